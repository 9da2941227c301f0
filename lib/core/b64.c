#include "core/b64.h"

static const char cg_b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


size_t
cg_b64_url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}


size_t
cg_b64_url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t   i, o = 0;
    unsigned v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8 | in[i + 2];
        out[o++] = cg_b64_alpha[v >> 18];
        out[o++] = cg_b64_alpha[(v >> 12) & 63];
        out[o++] = cg_b64_alpha[(v >> 6) & 63];
        out[o++] = cg_b64_alpha[v & 63];
    }
    if (n - i == 1) {
        v = (unsigned) in[i] << 16;
        out[o++] = cg_b64_alpha[v >> 18];
        out[o++] = cg_b64_alpha[(v >> 12) & 63];
    } else if (n - i == 2) {
        v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8;
        out[o++] = cg_b64_alpha[v >> 18];
        out[o++] = cg_b64_alpha[(v >> 12) & 63];
        out[o++] = cg_b64_alpha[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}


static int
cg_b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}


long
cg_b64_url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    size_t   i, o = 0, rem = n % 4;
    unsigned acc = 0;
    int      v, bits = 0;

    if (rem == 1 || n / 4 * 3 + (rem ? rem - 1 : 0) > cap) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        v = cg_b64_val((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (unsigned) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return -1;      /* non-zero padding bits: not canonical */
    }
    return (long) o;
}
