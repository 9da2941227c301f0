/*
 * guard_conf: the settings of the guards, [input] (the body parser's
 * limits), [guard] (input and output guard) and [pii]. Choices are stored
 * as the guards' own enums (cg_guard_action_t, cg_pii_action_t), parsed
 * once at load. Plain types only: lib/conf/config.h embeds this.
 */
#ifndef CG_GUARD_CONF_H
#define CG_GUARD_CONF_H

#include "conf/conf.h"

typedef struct {
    int     max_chars;
    int     max_messages;
    int     max_total_chars;
} cg_input_conf_t;

typedef struct {
    int     refuse_invisible;   /* 0 strip, 1 refuse */
    int     injection;          /* cg_guard_action_t */
    char   *patterns;           /* "" or file:/path */
    long    max_bytes;
    int     max_tokens;
    char   *allowed_hosts;
    int     max_urls;
    int     bare_urls;          /* 0 keep, 1 check */
} cg_guard_conf_t;

typedef struct {
    int     email, phone, card, iban, ssn, ip;  /* cg_pii_action_t */
    char   *key_ref;            /* "": derived from the session secret */
    char   *patterns;           /* "" or file:/path */
} cg_pii_conf_t;

extern const cg_conf_section_t cg_input_conf_section;
extern const cg_conf_section_t cg_guard_conf_section;
extern const cg_conf_section_t cg_pii_conf_section;

#endif
