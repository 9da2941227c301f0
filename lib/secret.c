#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>


int
cg_secret_is_ref(const char *ref)
{
    return ref != NULL
           && ((strncmp(ref, "env:", 4) == 0 && ref[4] != '\0')
               || (strncmp(ref, "file:/", 6) == 0));
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
    if (fd < 0) {
        snprintf(err, errlen, "cannot open secret file:%s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "secret file:%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, errlen, "secret file:%s is readable or writable by "
                 "others (mode %04o); chmod 0600 or 0640 it", path,
                 (unsigned) (st.st_mode & 07777));
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


int
cg_secret_load(cg_secret_t *s, const char *ref, char *err, size_t errlen)
{
    const char *v;

    memset(s, 0, sizeof(*s));
    if (!cg_secret_is_ref(ref)) {
        snprintf(err, errlen, "a secret must be referenced as env:NAME or "
                 "file:/path");
        return -1;
    }
    if (ref[0] == 'f') {
        return cg_secret_load_file(s, ref + 5, err, errlen);
    }
    v = getenv(ref + 4);
    if (v == NULL || *v == '\0') {
        snprintf(err, errlen, "environment variable %s (from %s) is not set",
                 ref + 4, ref);
        return -1;
    }
    if (strlen(v) > CG_SECRET_MAX || cg_secret_take(s, v, strlen(v)) != 0) {
        snprintf(err, errlen, "environment variable %s holds no usable "
                 "secret", ref + 4);
        return -1;
    }
    return 0;
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


static size_t
cg_secret_keychars(const char *p, const char *end)
{
    const char *q = p;

    while (q < end && ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z')
                       || (*q >= '0' && *q <= '9') || *q == '-'
                       || *q == '_')) {
        q++;
    }
    return (size_t) (q - p);
}


int
cg_secret_looks_like_key(const char *s, size_t n)
{
    const char *p = s, *end = s + n;

    for (; p + 3 <= end; p++) {
        if (p[0] == 's' && p[1] == 'k' && p[2] == '-'
            && (p == s || cg_secret_keychars(p - 1, p) == 0)) {
            if (end - p >= 7 && memcmp(p, "sk-ant-", 7) == 0
                && cg_secret_keychars(p + 7, end) >= 10) {
                return 1;
            }
            if (cg_secret_keychars(p + 3, end) >= 20) {
                return 1;
            }
        }
        if (end - p >= 8 && memcmp(p, "T3BlbkFJ", 8) == 0) {
            return 1;
        }
    }
    return 0;
}
