#include "conf/config.h"
#include "guard/guardset.h"
#include "guard/pii.h"
#include "guard/textguard.h"

#define CG_OFF(field)  offsetof(cg_input_conf_t, field)

static const cg_conf_cmd_t cg_input_cmds[] = {
    { "input", "max_chars", cg_conf_set_int, CG_OFF(max_chars),
      "10000", 1, 1000000, "longest message in characters" },
    { "input", "max_messages", cg_conf_set_int, CG_OFF(max_messages),
      "50", 1, 10000, "most messages in one conversation" },
    { "input", "max_total_chars", cg_conf_set_int, CG_OFF(max_total_chars),
      "50000", 1, 10000000,
      "most characters in all messages of one conversation together" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_guard_conf_t, field)

static const cg_conf_enum_t cg_guard_invisible[] = {
    { "strip", 0 }, { "refuse", 1 }, { NULL, 0 }
};

static const cg_conf_enum_t cg_guard_actions[] = {
    { "block", CG_GUARD_BLOCK }, { "flag", CG_GUARD_FLAG },
    { "off", CG_GUARD_OFF }, { NULL, 0 }
};

static const cg_conf_enum_t cg_guard_bare_urls[] = {
    { "keep", 0 }, { "check", 1 }, { NULL, 0 }
};

static const cg_conf_cmd_t cg_guard_cmds[] = {
    { "guard", "invisible", cg_conf_set_enum, CG_OFF(refuse_invisible),
      "strip", 0, 0,
      "invisible and control characters in input: strip or refuse (400)",
      NULL, cg_guard_invisible },
    { "guard", "injection", cg_conf_set_enum, CG_OFF(injection),
      "flag", 0, 0,
      "built-in injection patterns: flag (usage log), block (400) or off",
      NULL, cg_guard_actions },
    { "guard", "injection_patterns", cg_conf_set_str, CG_OFF(patterns),
      "", 0, 0,
      "more patterns, file:/path with action<TAB>[name<TAB>]regex lines" },
    { "guard", "max_bytes", cg_conf_set_long, CG_OFF(max_bytes),
      "0", 0, 16777216, "longest message in bytes (0: only max_body)" },
    { "guard", "max_tokens", cg_conf_set_int, CG_OFF(max_tokens),
      "0", 0, 10000000,
      "longest message in estimated tokens, bytes / 4 (0: no limit)" },
    { "guard", "allowed_hosts", cg_conf_set_str, CG_OFF(allowed_hosts),
      "", 0, 0,
      "hosts answers may link to: \"a.com .b.org\" (.b.org: and subdomains)" },
    { "guard", "max_urls", cg_conf_set_int, CG_OFF(max_urls),
      "10", 0, 100000, "allowed URLs kept per answer; later ones removed" },
    /* issue 15: GFM, marked and linkify make bare URLs links: checked by
     * default. */
    { "guard", "bare_urls", cg_conf_set_enum, CG_OFF(bare_urls),
      "check", 0, 0,
      "bare URLs, www. and host names in answers: check like links, or keep",
      NULL, cg_guard_bare_urls },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_pii_conf_t, field)

static const cg_conf_enum_t cg_pii_actions[] = {
    { "pseudonymize", CG_PII_PSEUDO }, { "mask", CG_PII_MASK },
    { "block", CG_PII_BLOCK }, { "allow", CG_PII_ALLOW }, { NULL, 0 }
};

static const cg_conf_cmd_t cg_pii_cmds[] = {
    { "pii", "email", cg_conf_set_enum, CG_OFF(email),
      "pseudonymize", 0, 0, "pseudonymize, mask, block or allow", NULL,
      cg_pii_actions },
    { "pii", "phone", cg_conf_set_enum, CG_OFF(phone),
      "pseudonymize", 0, 0, "pseudonymize, mask, block or allow", NULL,
      cg_pii_actions },
    { "pii", "card", cg_conf_set_enum, CG_OFF(card),
      "mask", 0, 0, "payment cards (Luhn-checked)", NULL, cg_pii_actions },
    { "pii", "iban", cg_conf_set_enum, CG_OFF(iban),
      "mask", 0, 0, "IBANs (mod-97-checked)", NULL, cg_pii_actions },
    { "pii", "ssn", cg_conf_set_enum, CG_OFF(ssn),
      "mask", 0, 0, "US social security numbers", NULL, cg_pii_actions },
    { "pii", "ip", cg_conf_set_enum, CG_OFF(ip),
      "allow", 0, 0, "IPv4 and IPv6 addresses", NULL, cg_pii_actions },
    { "pii", "key", cg_conf_set_str, CG_OFF(key_ref),
      "", 0, 0,
      "pseudonym key, env:NAME or file:/path (empty: derived from the "
      "session secret)" },
    { "pii", "patterns", cg_conf_set_str, CG_OFF(patterns),
      "", 0, 0,
      "more detectors, file:/path with action<TAB>name<TAB>regex lines" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


/* The guards are built as a worker builds them, so a bad patterns file
 * or PII key fails `check`, the start and a reload, not every worker. */
static int
cg_guard_conf_secrets(void *conf, int session_only, char *err,
                      size_t errlen)
{
    return session_only ? 0 : cg_guardset_check(conf, err, errlen);
}


const cg_conf_section_t cg_input_conf_section = {
    .name = "input", .cmds = cg_input_cmds,
    .offset = offsetof(cg_conf_t, input),
};

const cg_conf_section_t cg_guard_conf_section = {
    .name = "guard", .cmds = cg_guard_cmds,
    .offset = offsetof(cg_conf_t, guard),
    .secrets = cg_guard_conf_secrets,
};

const cg_conf_section_t cg_pii_conf_section = {
    .name = "pii", .cmds = cg_pii_cmds, .offset = offsetof(cg_conf_t, pii),
};
