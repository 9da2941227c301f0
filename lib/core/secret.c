#include "core/secret.h"

#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CG_SECRET_ENV_MAX  32

/* Values taken from env: references. The variable is unset after the
 * first read, so a reload (which re-reads every reference) finds its value
 * here; the environment of a running process cannot change anyway. */
typedef struct {
    char        *name;
    cg_secret_t  value;
} cg_secret_env_t;

static cg_secret_env_t  cg_secret_envs[CG_SECRET_ENV_MAX];
static uid_t            cg_secret_service_uid = (uid_t) -1;
static uid_t            cg_secret_trusted[4];
static size_t           cg_secret_ntrusted;


int
cg_secret_is_ref(const char *ref)
{
    return ref != NULL
           && ((strncmp(ref, "env:", 4) == 0 && ref[4] != '\0')
               || (strncmp(ref, "file:/", 6) == 0)
               || (strncmp(ref, "credential:", 11) == 0 && ref[11] != '\0'
                   && strchr(ref + 11, '/') == NULL
                   && strcmp(ref + 11, "..") != 0));
}


int
cg_secret_path(const char *ref, char *out, size_t outlen)
{
    const char *dir;
    int         n;

    if (strncmp(ref, "file:/", 6) == 0) {
        n = snprintf(out, outlen, "%s", ref + 5);
    } else if (strncmp(ref, "credential:", 11) == 0
               && (dir = getenv("CREDENTIALS_DIRECTORY")) != NULL
               && dir[0] == '/') {
        n = snprintf(out, outlen, "%s/%s", dir, ref + 11);
    } else {
        return -1;
    }
    return n > 0 && (size_t) n < outlen ? 0 : -1;
}


void
cg_secret_set_service_uid(uid_t uid)
{
    cg_secret_service_uid = uid;
}


void
cg_secret_trust_uid(uid_t uid)
{
    if (cg_secret_ntrusted < sizeof(cg_secret_trusted)
                             / sizeof(cg_secret_trusted[0])) {
        cg_secret_trusted[cg_secret_ntrusted++] = uid;
    }
}


static int
cg_secret_trusted_owner(uid_t owner, uid_t svc)
{
    size_t i;

    for (i = 0; i < cg_secret_ntrusted; i++) {
        if (cg_secret_trusted[i] == owner) {
            return 1;
        }
    }
    return owner == 0 || owner == svc;
}


static int
cg_secret_take(cg_secret_t *s, const char *p, size_t n)
{
    /* Trailing newlines and spaces come from `echo key > file`; they are
     * never part of a key. */
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'
                     || p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    if (n == 0) {
        return -1;
    }
    s->data = malloc(n + 1);
    if (s->data == NULL) {
        return -1;
    }
    memcpy(s->data, p, n);
    s->data[n] = '\0';
    (void) mlock(s->data, n + 1);   /* best effort: RLIMIT_MEMLOCK may deny */
    s->len = n;
    cg_secret_fingerprint(s->data, n, s->fp);
    return 0;
}


/* Who may hold the key besides chatgate: root, and the group when it is
 * group-readable (`chatgate audit` names every such account). */
static int
cg_secret_check_custody(const struct stat *st, const char *path, char *err,
                        size_t errlen)
{
    uid_t svc = cg_secret_service_uid;

    if (svc == (uid_t) -1) {
        svc = geteuid();
    }
    if (st->st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, errlen, "secret file:%s is readable or writable by "
                 "others (mode %04o); chmod 0600 or 0640 it", path,
                 (unsigned) (st->st_mode & 07777));
        return -1;
    }
    if (st->st_mode & S_IWGRP) {
        snprintf(err, errlen, "secret file:%s is writable by its group "
                 "(mode %04o); chmod 0600 or 0640 it", path,
                 (unsigned) (st->st_mode & 07777));
        return -1;
    }
    if (!cg_secret_trusted_owner(st->st_uid, svc)) {
        struct passwd *pw = getpwuid(st->st_uid);
        char           owner[64];

        snprintf(owner, sizeof(owner), "%s", pw ? pw->pw_name : "?");
        pw = getpwuid(svc);
        snprintf(err, errlen, "secret file:%s is owned by %s (uid %u), not "
                 "by root, the account chatgate runs as (%s, uid %u), "
                 "[server] user or the config file's owner; chown it",
                 path, owner, (unsigned) st->st_uid, pw ? pw->pw_name : "?",
                 (unsigned) svc);
        return -1;
    }
    return 0;
}


static int
cg_secret_load_file(cg_secret_t *s, const char *path, char *err,
                    size_t errlen)
{
    char         tmp[CG_SECRET_MAX + 1];
    struct stat  st;
    ssize_t      n;
    size_t       got = 0;
    int          fd, rc;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP) {
        /* A link could be repointed by whoever owns its directory. */
        snprintf(err, errlen, "secret file:%s is a symbolic link, and "
                 "symbolic links are refused; name the file itself", path);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open secret file:%s: %s%s", path,
                 strerror(errno), errno == EACCES ? " (it must be readable "
                 "by the account chatgate runs as, [server] user after the "
                 "drop, e.g. through [server] group)" : "");
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "secret file:%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (cg_secret_check_custody(&st, path, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    while (got < sizeof(tmp)
           && (n = read(fd, tmp + got, sizeof(tmp) - got)) > 0) {
        got += (size_t) n;
    }
    close(fd);
    if (got > CG_SECRET_MAX) {
        snprintf(err, errlen, "secret file:%s is larger than %d bytes", path,
                 CG_SECRET_MAX);
        explicit_bzero(tmp, sizeof(tmp));
        return -1;
    }
    rc = cg_secret_take(s, tmp, got);
    explicit_bzero(tmp, sizeof(tmp));
    if (rc != 0) {
        snprintf(err, errlen, "secret file:%s is empty", path);
    }
    return rc;
}


static cg_secret_env_t *
cg_secret_env_slot(const char *name, int create)
{
    int i;

    for (i = 0; i < CG_SECRET_ENV_MAX; i++) {
        if (cg_secret_envs[i].name
            && strcmp(cg_secret_envs[i].name, name) == 0) {
            return &cg_secret_envs[i];
        }
    }
    for (i = 0; create && i < CG_SECRET_ENV_MAX; i++) {
        if (cg_secret_envs[i].name == NULL) {
            cg_secret_envs[i].name = strdup(name);
            return cg_secret_envs[i].name ? &cg_secret_envs[i] : NULL;
        }
    }
    return NULL;
}


/* Reads the variable once, keeps the value, and removes it from the
 * environment so that no child, no later getenv() and no /proc/PID/environ
 * of a forked worker carries it. */
static int
cg_secret_load_env(cg_secret_t *s, const char *name, char *err,
                   size_t errlen)
{
    cg_secret_env_t *slot;
    char            *v = getenv(name);

    if (v != NULL && *v != '\0') {
        slot = cg_secret_env_slot(name, 1);
        if (slot == NULL || strlen(v) > CG_SECRET_MAX) {
            snprintf(err, errlen, "environment variable %s holds no usable "
                     "secret", name);
            return -1;
        }
        cg_secret_free(&slot->value);
        if (cg_secret_take(&slot->value, v, strlen(v)) != 0) {
            snprintf(err, errlen, "environment variable %s holds no usable "
                     "secret", name);
            return -1;
        }
        /* The value lives in the environment block; wiping it there also
         * blanks it in /proc/PID/environ when it was in the initial
         * environment. */
        explicit_bzero(v, strlen(v));
        unsetenv(name);
    }
    slot = cg_secret_env_slot(name, 0);
    if (slot == NULL || slot->value.data == NULL) {
        snprintf(err, errlen, "environment variable %s (from env:%s) is not "
                 "set", name, name);
        return -1;
    }
    return cg_secret_copy(s, &slot->value);
}


int
cg_secret_load(cg_secret_t *s, const char *ref, char *err, size_t errlen)
{
    char path[4096];

    memset(s, 0, sizeof(*s));
    if (!cg_secret_is_ref(ref)) {
        snprintf(err, errlen, "a secret must be referenced as env:NAME, "
                 "file:/path or credential:NAME");
        return -1;
    }
    if (ref[0] == 'e') {
        return cg_secret_load_env(s, ref + 4, err, errlen);
    }
    if (cg_secret_path(ref, path, sizeof(path)) != 0) {
        snprintf(err, errlen, "%s needs $CREDENTIALS_DIRECTORY (systemd "
                 "LoadCredential=) to be set", ref);
        return -1;
    }
    return cg_secret_load_file(s, path, err, errlen);
}


int
cg_secret_copy(cg_secret_t *dst, const cg_secret_t *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->data == NULL) {
        return 0;
    }
    return cg_secret_take(dst, (const char *) src->data, src->len);
}


void
cg_secret_env_clear(void)
{
    int i;

    for (i = 0; i < CG_SECRET_ENV_MAX; i++) {
        cg_secret_free(&cg_secret_envs[i].value);
        free(cg_secret_envs[i].name);
        cg_secret_envs[i].name = NULL;
    }
}


void
cg_secret_free(cg_secret_t *s)
{
    if (s->data) {
        explicit_bzero(s->data, s->len + 1);
        (void) munlock(s->data, s->len + 1);
        free(s->data);
    }
    memset(s, 0, sizeof(*s));
}


void
cg_secret_fingerprint(const void *data, size_t len, char out[CG_FP_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      mdlen = 0;
    int               i;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (i = 0; i < CG_FP_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[CG_FP_LEN] = '\0';
}


static int
cg_secret_keychar(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}


static int
cg_secret_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9');
}


static int
cg_secret_upper_digit(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}


/* How many characters of class ok start at p. */
static size_t
cg_secret_run(const char *p, const char *end, int (*ok)(char))
{
    const char *q = p;

    while (q < end && ok(*q)) {
        q++;
    }
    return (size_t) (q - p);
}


/* The key formats chatgate talks to or a site may paste by mistake, each a
 * prefix at the start of a token and a body of at least min (and, when max
 * is set, at most max: an AWS key id is exactly 20 characters) characters
 * of one class. Bodies are shorter than the real keys, so a truncated
 * paste is still caught. */
static const struct {
    const char *prefix;
    size_t      min, max;
    int       (*ok)(char);
} cg_secret_shapes[] = {
    { "sk-ant-", 4,  0,  cg_secret_keychar },   /* Anthropic: api03, admin01 */
    { "sk-",     20, 0,  cg_secret_keychar },   /* OpenAI legacy, proj-,
                                                   svcacct-, admin-;
                                                   OpenRouter sk-or-v1-;
                                                   DeepSeek */
    { "gsk_",    20, 0,  cg_secret_alnum },     /* Groq */
    { "xai-",    20, 0,  cg_secret_alnum },     /* xAI */
    { "hf_",     30, 0,  cg_secret_alnum },     /* Hugging Face */
    { "AIza",    30, 0,  cg_secret_keychar },   /* Google (Gemini) */
    { "AKIA",    16, 16, cg_secret_upper_digit }, /* AWS access key id */
    { "ASIA",    16, 16, cg_secret_upper_digit }, /* AWS temporary key id */
};
#define CG_SECRET_NSHAPES (sizeof(cg_secret_shapes) / sizeof(cg_secret_shapes[0]))

/* Azure's (and other Microsoft services') common annotated key: 84
 * alphanumerics with the signature "JQQJ9" at offset 52. */
#define CG_SECRET_AZURE_LEN   84
#define CG_SECRET_AZURE_SIG   52


static int
cg_secret_shape_at(const char *p, const char *end)
{
    size_t i, plen, body;

    for (i = 0; i < CG_SECRET_NSHAPES; i++) {
        plen = strlen(cg_secret_shapes[i].prefix);
        if ((size_t) (end - p) < plen
            || memcmp(p, cg_secret_shapes[i].prefix, plen) != 0) {
            continue;
        }
        body = cg_secret_run(p + plen, end, cg_secret_shapes[i].ok);
        if (body >= cg_secret_shapes[i].min
            && (cg_secret_shapes[i].max == 0
                || (body == cg_secret_shapes[i].max
                    && (p + plen + body == end
                        || !cg_secret_keychar(p[plen + body]))))) {
            return 1;
        }
    }
    return cg_secret_run(p, end, cg_secret_alnum) >= CG_SECRET_AZURE_LEN
           && memcmp(p + CG_SECRET_AZURE_SIG, "JQQJ9", 5) == 0;
}


int
cg_secret_looks_like_key(const char *s, size_t n)
{
    const char *p = s, *end = s + n;

    for (; p < end; p++) {
        if ((p == s || !cg_secret_keychar(p[-1]))
            && cg_secret_shape_at(p, end)) {
            return 1;
        }
        /* OpenAI's marker, base64 of "openai", inside many of its keys. */
        if (end - p >= 8 && memcmp(p, "T3BlbkFJ", 8) == 0) {
            return 1;
        }
    }
    return 0;
}


/* A token of exactly CG_SECRET_BARE_LEN letters and digits, with both: an
 * Azure (classic, 32 hex) or Mistral key pasted bare. Too common a shape in
 * answers (MD5 sums) for the output guard; in a config file it is never
 * anything but a key. */
#define CG_SECRET_BARE_LEN  32

static int
cg_secret_bare_key(const char *p, const char *end)
{
    size_t n = cg_secret_run(p, end, cg_secret_keychar), i;
    int    digit = 0, letter = 0;

    if (n != CG_SECRET_BARE_LEN
        || cg_secret_run(p, end, cg_secret_alnum) != n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        digit |= p[i] >= '0' && p[i] <= '9';
        letter |= !(p[i] >= '0' && p[i] <= '9');
    }
    return digit && letter;
}


int
cg_secret_config_has_key(const char *s, size_t n)
{
    const char *p, *end = s + n;

    if (cg_secret_looks_like_key(s, n)) {
        return 1;
    }
    for (p = s; p < end; p++) {
        if ((p == s || !cg_secret_keychar(p[-1]))
            && cg_secret_bare_key(p, end)) {
            return 1;
        }
    }
    return 0;
}


int
cg_secret_url_has_userinfo(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    size_t      n;

    if (p == NULL) {
        return 0;
    }
    p += 3;
    n = strcspn(p, "/?#");
    return memchr(p, '@', n) != NULL;
}
