/* libFuzzer target for the provider response parsers: a whole answer
 * (parse) and stream events (event), for Anthropic and OpenAI. The first
 * byte picks the provider; the rest is a whole answer, and, split at
 * newlines, "event-name<TAB>data" stream events fed in order. Properties:
 * no crash; usage counts are never negative; the text is valid UTF-8 (it
 * goes to the client as JSON). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider/provider.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check(const cg_pstream_t *ps)
{
    if (ps->input_tokens < 0 || ps->output_tokens < 0) {
        abort();
    }
}


static void
events(const cg_provider_t *p, const char *s, size_t n)
{
    cg_pstream_t  ps;
    cg_buf_t      delta;
    const char   *line, *end, *tab;
    char          name[64];
    size_t        nl;

    memset(&ps, 0, sizeof(ps));
    cg_buf_init(&delta);
    for (line = s; line < s + n; line = end + 1) {
        end = memchr(line, '\n', (size_t) (s + n - line));
        end = end ? end : s + n;
        tab = memchr(line, '\t', (size_t) (end - line));
        nl = tab ? (size_t) (tab - line) : 0;
        nl = nl < sizeof(name) ? nl : sizeof(name) - 1;
        memcpy(name, line, nl);
        name[nl] = '\0';
        tab = tab ? tab + 1 : line;
        if (p->event(&ps, name, tab, (size_t) (end - tab), &delta) != 0) {
            break;
        }
        check(&ps);
    }
    check(&ps);
    cg_buf_free(&delta);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cg_provider_t *p;
    cg_pstream_t         ps;
    cg_buf_t             text;
    char                *s;

    if (size < 1) {
        return 0;
    }
    p = data[0] & 1 ? &cg_provider_openai : &cg_provider_anthropic;
    s = malloc(size);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    memset(&ps, 0, sizeof(ps));
    cg_buf_init(&text);
    if (p->parse(s, size - 1, &text, &ps) == 0) {
        check(&ps);
        if (text.len > 0 && cg_utf8_count(text.data, text.len) < 0) {
            abort();
        }
    }
    cg_buf_free(&text);
    events(p, s, size - 1);
    free(s);
    return 0;
}
