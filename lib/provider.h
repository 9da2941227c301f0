/*
 * provider: the wire format of the AI provider (Anthropic Messages for now).
 *
 * Building: the model, max_tokens and system prompt come from the server's
 * config only; the user's text goes in as one user message. Parsing: the
 * answer text and the usage figures from a 2xx body; anything that does not
 * have the documented shape is "garbage" (502). The provider's own error
 * text is never copied anywhere: callers keep only the status code.
 */
#ifndef CG_PROVIDER_H
#define CG_PROVIDER_H

#include "buf.h"
#include "config.h"

void cg_anthropic_build(const cg_conf_t *conf, const char *msg, size_t len,
                        cg_buf_t *out);
/* Returns 0 and fills text and the usage, or -1 when body is not a valid
 * Messages response. */
int  cg_anthropic_parse(const char *body, size_t len, cg_buf_t *text,
                        long *input_tokens, long *output_tokens);

#endif
