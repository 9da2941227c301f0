/*
 * mock-provider: a fake AI provider for chatgate's integration tests and
 * benchmarks.  It speaks just enough HTTP/1.1 to serve the Anthropic
 * Messages API (POST /v1/messages) and the OpenAI Chat Completions API
 * (POST .../chat/completions), answers with a deterministic echo of the
 * last user message (plain JSON or SSE streams), checks the API key, logs
 * every request as one JSON line, and injects failures chosen by
 * [[mock:NAME=VALUE]] directives in the last user message (error statuses,
 * delays, stalls, truncation, garbage, resets).  It is a single-threaded
 * epoll loop with non-blocking sockets and a timer heap, so thousands of
 * slow streams cost little.  GET /_mock/stats exposes counters.  It is a
 * test tool only and is never linked into the gateway.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOCK_MAX_HDR (64u * 1024)
#define MOCK_MAX_BODY (4u * 1024 * 1024)
#define MOCK_IN_CAP (MOCK_MAX_HDR + MOCK_MAX_BODY + 65536u)
#define MOCK_ECHO_MAX 2000
#define MOCK_PIECE 8
#define MOCK_BIG_MAX (64 * 1024 * 1024)
#define MOCK_LINGER_MS 3000
#define MOCK_DETAIL "mock internal detail: upstream secret path /srv/x"

enum { MOCK_R_NONE, MOCK_API_ANTHROPIC, MOCK_API_OPENAI,
       MOCK_R_STATS, MOCK_R_RESET, MOCK_R_HEALTH };
enum { MOCK_END_KEEP, MOCK_END_CLOSE, MOCK_END_STALL, MOCK_END_RESET,
       MOCK_END_LINGER };

struct mock_buf {
    char *p;
    size_t len, cap;
};

struct mock_span {
    const char *p;
    size_t n;
};

struct mock_req {
    struct mock_span method, target, xkey, auth, apikey, aver;
    struct mock_span conn, expect, te;
    int http10;
    size_t hdr_len;
    long long clen;
};

struct mock_conn {
    int fd;
    unsigned long serial;
    struct mock_buf in, out;        /* received bytes; planned response */
    size_t out_off, limit;          /* sent so far; may send up to limit */
    size_t *cuts, ncuts, icut, cuts_cap;
    int gap_ms, next_delay, end;
    int responding, stalled, streaming, lingering, blocked;
    int keep_alive, chunked, sent_continue;
    uint32_t mask;
    long long deadline;
    long heap_idx;
    struct mock_conn *prev, *next;
};

struct mock_dir {
    int status, fail_first, delay_ms, stall_after, hold_ms, big;
    int garbage, truncate, error_event, reset, no_usage, zero_usage, has_text;
    int fat_event;
    struct mock_buf text;           /* decoded text= value */
    struct mock_buf retry_after;    /* decoded retry_after= value */
    struct mock_buf key;            /* all directive tokens (fail_first id) */
};

struct mock_info {
    const char *model;
    int stream, include_usage;
    size_t in_bytes;
    struct mock_buf last;           /* text of the last user message */
};

struct mock_ctx {
    int api, include_usage, no_usage, error_event;
    unsigned long serial;
    const char *model;
    long long created;
    long in_tok, out_tok;
    const char *ans;
    size_t ans_len;
    int fat_event;                  /* lines of the fat first event */
};

struct mock_evs {                   /* SSE events, concatenated */
    struct mock_buf d;
    size_t *end, n, cap;
};

struct mock_ff {                    /* fail_first counter per directive set */
    char *key;
    size_t len;
    long count;
    struct mock_ff *next;
};

static struct {
    int port, listen_fd, delay_ms;
    const char *log_path, *pid_path;
    char *key;
} g_opt = { -1, -1, 0, NULL, NULL, NULL };

static struct {
    unsigned long requests, connections, closed_early;
} g_st;

static long g_open_conns, g_open_streams;
static unsigned long g_conn_serial, g_req_serial;
static int g_ep = -1, g_lfd = -1, g_sfd = -1, g_logfd = -1, g_spare = -1;
static volatile int g_quit;
static struct mock_conn *g_conns;
static struct mock_conn **g_heap;
static size_t g_heap_len, g_heap_cap;
static struct mock_ff *g_ff;
static char g_rbuf[65536];
static int g_tag_listen, g_tag_sig;

static int mock_conn_close(struct mock_conn *c, int peer);

/* ---------------------------------------------------------------- buffers */

static void *mock_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        fputs("mock-provider: out of memory\n", stderr);
        exit(1);
    }
    return q;
}

static void mock_buf_reserve(struct mock_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 256;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->p = mock_xrealloc(b->p, cap);
    b->cap = cap;
}

static void mock_buf_put(struct mock_buf *b, const void *d, size_t n)
{
    mock_buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void mock_buf_str(struct mock_buf *b, const char *s)
{
    mock_buf_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void mock_buf_printf(struct mock_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    mock_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void mock_buf_free(struct mock_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void mock_buf_consume(struct mock_buf *b, size_t n)
{
    if (n >= b->len) {
        mock_buf_free(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

static void mock_push_size(size_t **arr, size_t *n, size_t *cap, size_t v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = mock_xrealloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = v;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not valid. */
static size_t mock_utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
        return 0;
    if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return len;
}

static void mock_json_char(struct mock_buf *b, unsigned char ch)
{
    switch (ch) {
    case '"':  mock_buf_put(b, "\\\"", 2); break;
    case '\\': mock_buf_put(b, "\\\\", 2); break;
    case '\n': mock_buf_put(b, "\\n", 2); break;
    case '\r': mock_buf_put(b, "\\r", 2); break;
    case '\t': mock_buf_put(b, "\\t", 2); break;
    default:   mock_buf_printf(b, "\\u%04x", ch); break;
    }
}

/* Append s as a JSON string; invalid UTF-8 bytes become U+FFFD. */
static void mock_buf_json(struct mock_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run, l;

    mock_buf_reserve(b, n + 2);
    mock_buf_put(b, "\"", 1);
    while (i < n) {
        for (run = i; run < n && u[run] >= 0x20 && u[run] < 0x80 &&
                      u[run] != '"' && u[run] != '\\'; run++)
            ;
        mock_buf_put(b, s + i, run - i);
        if ((i = run) >= n)
            break;
        if (u[i] < 0x80) {
            mock_json_char(b, u[i++]);
        } else if ((l = mock_utf8_len(u + i, n - i)) != 0) {
            mock_buf_put(b, s + i, l);
            i += l;
        } else {
            mock_buf_str(b, "\\ufffd");
            i++;
        }
    }
    mock_buf_put(b, "\"", 1);
}

static void mock_buf_jspan(struct mock_buf *b, struct mock_span s)
{
    if (s.p)
        mock_buf_json(b, s.p, s.n);
    else
        mock_buf_str(b, "null");
}

static void mock_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* ------------------------------------------------------------------ misc */

static long long mock_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mock_span_eq(struct mock_span s, const char *lit)
{
    size_t n = strlen(lit);

    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

static int mock_span_has(struct mock_span s, const char *tok)
{
    size_t n = strlen(tok), i;

    for (i = 0; s.p && i + n <= s.n; i++)
        if (strncasecmp(s.p + i, tok, n) == 0)
            return 1;
    return 0;
}

static struct mock_span mock_trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct mock_span){ p, n };
}

/* Parse a decimal integer in [lo, hi]; return dflt if it is not one. */
static long mock_num(struct mock_span v, long lo, long hi, long dflt)
{
    char tmp[32], *end;
    long x;

    if (v.n == 0 || v.n >= sizeof tmp)
        return dflt;
    memcpy(tmp, v.p, v.n);
    tmp[v.n] = '\0';
    errno = 0;
    x = strtol(tmp, &end, 10);
    if (*end || errno || x < lo || x > hi)
        return dflt;
    return x;
}

static int mock_hex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void mock_pct_decode(struct mock_buf *out, const char *s, size_t n)
{
    size_t i;
    int hi, lo;
    char ch;

    for (i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && (hi = mock_hex(s[i + 1])) >= 0 &&
            (lo = mock_hex(s[i + 2])) >= 0) {
            ch = (char)(hi * 16 + lo);
            mock_buf_put(out, &ch, 1);
            i += 2;
        } else {
            mock_buf_put(out, s + i, 1);
        }
    }
}

static const char *mock_reason(int st)
{
    switch (st) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    }
    return "Mock Status";
}

/* ----------------------------------------------------------- timer heap */

static void mock_heap_swap(size_t a, size_t b)
{
    struct mock_conn *t = g_heap[a];

    g_heap[a] = g_heap[b];
    g_heap[b] = t;
    g_heap[a]->heap_idx = (long)a;
    g_heap[b]->heap_idx = (long)b;
}

static void mock_heap_up(size_t i)
{
    while (i > 0 && g_heap[(i - 1) / 2]->deadline > g_heap[i]->deadline) {
        mock_heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void mock_heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < g_heap_len && g_heap[l]->deadline < g_heap[m]->deadline)
            m = l;
        if (r < g_heap_len && g_heap[r]->deadline < g_heap[m]->deadline)
            m = r;
        if (m == i)
            return;
        mock_heap_swap(i, m);
        i = m;
    }
}

static void mock_timer_clear(struct mock_conn *c)
{
    size_t i, last;

    if (c->heap_idx < 0)
        return;
    i = (size_t)c->heap_idx;
    last = --g_heap_len;
    if (i != last) {
        g_heap[i] = g_heap[last];
        g_heap[i]->heap_idx = (long)i;
        mock_heap_down(i);
        mock_heap_up(i);
    }
    c->heap_idx = -1;
}

static void mock_timer_set(struct mock_conn *c, int ms)
{
    mock_timer_clear(c);
    if (g_heap_len == g_heap_cap) {
        g_heap_cap = g_heap_cap ? g_heap_cap * 2 : 64;
        g_heap = mock_xrealloc(g_heap, g_heap_cap * sizeof *g_heap);
    }
    c->deadline = mock_now() + ms;
    c->heap_idx = (long)g_heap_len;
    g_heap[g_heap_len++] = c;
    mock_heap_up((size_t)c->heap_idx);
}

static int mock_timeout(void)
{
    long long d;

    if (!g_heap_len)
        return -1;
    d = g_heap[0]->deadline - mock_now();
    return d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

/* ------------------------------------------------------ response planning */

static void mock_plan_cut(struct mock_conn *c)
{
    mock_push_size(&c->cuts, &c->ncuts, &c->cuts_cap, c->out.len);
}

/* The response in c->out is sent in pieces ending at each cut: the first
 * after `delay` ms, the others `gap` ms apart; then `end` happens. */
static void mock_plan_start(struct mock_conn *c, int delay, int end, int gap)
{
    if (!c->ncuts || c->cuts[c->ncuts - 1] != c->out.len)
        mock_plan_cut(c);
    c->out_off = c->limit = c->icut = 0;
    c->next_delay = delay;
    c->gap_ms = gap;
    c->end = end;
    c->responding = 1;
    c->stalled = 0;
}

static void mock_head(struct mock_conn *c, int st, const char *ctype,
                      long long clen, const char *extra)
{
    struct mock_buf *b = &c->out;

    mock_buf_printf(b, "HTTP/1.1 %d %s\r\nserver: mock-provider\r\n",
                    st, mock_reason(st));
    mock_buf_printf(b, "content-type: %s\r\n", ctype);
    if (clen >= 0)
        mock_buf_printf(b, "content-length: %lld\r\n", clen);
    else if (c->chunked)
        mock_buf_str(b, "transfer-encoding: chunked\r\n");
    mock_buf_printf(b, "connection: %s\r\n",
                    c->keep_alive ? "keep-alive" : "close");
    if (extra)
        mock_buf_str(b, extra);
    mock_buf_str(b, "\r\n");
}

static void mock_respond(struct mock_conn *c, int st, const char *extra,
                         const char *body, size_t blen, int delay, int end)
{
    mock_head(c, st, "application/json", (long long)blen, extra);
    mock_buf_put(&c->out, body, blen);
    mock_plan_start(c, delay, end, 0);
}

/* retry_after=VALUE of the request being answered (single-threaded). */
static const char *g_retry_after;

static void mock_extra(struct mock_buf *h, int api, unsigned long serial,
                       int st)
{
    mock_buf_printf(h, "%s: req_mock%lu\r\n",
                    api == MOCK_API_OPENAI ? "x-request-id" : "request-id",
                    serial);
    if ((st == 429 || st == 503 || st == 529) && g_retry_after)
        mock_buf_printf(h, "retry-after: %s\r\n", g_retry_after);
    else if (st == 429 || st == 503 || st == 529)
        mock_buf_str(h, "retry-after: 1\r\nretry-after-ms: 1000\r\n");
}

static const char *mock_anthropic_etype(int st)
{
    switch (st) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    }
    return st >= 500 ? "api_error" : "invalid_request_error";
}

static void mock_openai_etype(int st, const char **type, const char **code)
{
    *type = st >= 500 ? "server_error" : "invalid_request_error";
    *code = "null";
    if (st == 401)
        *code = "\"invalid_api_key\"";
    else if (st == 404)
        *code = "\"model_not_found\"";
    else if (st == 429) {
        *type = "requests";
        *code = "\"rate_limit_exceeded\"";
    }
}

static void mock_error_body(struct mock_buf *b, int api, int st,
                            unsigned long serial, const char *msg)
{
    const char *type, *code;

    if (api == MOCK_API_OPENAI) {
        mock_openai_etype(st, &type, &code);
        mock_buf_str(b, "{\"error\":{\"message\":");
        mock_buf_json(b, msg, strlen(msg));
        mock_buf_printf(b, ",\"type\":\"%s\",\"param\":null,\"code\":%s}}",
                        type, code);
        return;
    }
    mock_buf_printf(b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                    "\"message\":", mock_anthropic_etype(st));
    mock_buf_json(b, msg, strlen(msg));
    mock_buf_printf(b, "},\"request_id\":\"req_mock%lu\"}", serial);
}

static void mock_error(struct mock_conn *c, int api, int st,
                       unsigned long serial, const char *msg, int delay)
{
    struct mock_buf b = { 0 }, h = { 0 };

    mock_error_body(&b, api, st, serial, msg);
    mock_extra(&h, api, serial, st);
    mock_respond(c, st, h.p, b.p, b.len, delay, MOCK_END_KEEP);
    mock_buf_free(&b);
    mock_buf_free(&h);
}

/* Protocol-level rejection: answer, then close gracefully (lingering). */
static int mock_reject(struct mock_conn *c, int st, int api)
{
    char msg[64];

    c->keep_alive = 0;
    c->in.len = 0;
    snprintf(msg, sizeof msg, "mock: %d %s", st, mock_reason(st));
    mock_error(c, api == MOCK_API_OPENAI ? api : MOCK_API_ANTHROPIC, st, 0,
               msg, 0);
    c->end = MOCK_END_LINGER;
    return 1;
}

/* --------------------------------------------------------------- stats */

static void mock_send_stats(struct mock_conn *c)
{
    struct mock_buf b = { 0 };

    mock_buf_printf(&b, "{\"requests\":%lu,\"connections\":%lu,"
                    "\"open_connections\":%ld,\"open_streams\":%ld,"
                    "\"closed_early\":%lu}", g_st.requests, g_st.connections,
                    g_open_conns, g_open_streams, g_st.closed_early);
    mock_respond(c, 200, NULL, b.p, b.len, 0, MOCK_END_KEEP);
    mock_buf_free(&b);
}

static void mock_stats_reset(void)
{
    struct mock_ff *f;

    memset(&g_st, 0, sizeof g_st);
    while ((f = g_ff) != NULL) {
        g_ff = f->next;
        free(f->key);
        free(f);
    }
}

static struct mock_ff *mock_ff_get(const char *key, size_t len)
{
    struct mock_ff *f;

    for (f = g_ff; f; f = f->next)
        if (f->len == len && memcmp(f->key, key, len) == 0)
            return f;
    f = mock_xrealloc(NULL, sizeof *f);
    f->key = mock_xrealloc(NULL, len + 1);
    memcpy(f->key, key, len);
    f->len = len;
    f->count = 0;
    f->next = g_ff;
    g_ff = f;
    return f;
}

/* ------------------------------------------------------------ directives */

static const struct mock_dirdef {
    const char *name;
    size_t off;
    int lo, hi;                     /* lo < 0: a flag without value */
} g_dirdefs[] = {
    { "status", offsetof(struct mock_dir, status), 100, 599 },
    { "fail_first", offsetof(struct mock_dir, fail_first), 0, 1000000 },
    { "delay_ms", offsetof(struct mock_dir, delay_ms), 0, 3600000 },
    { "stall_after", offsetof(struct mock_dir, stall_after), 0, 1000000 },
    { "hold_ms", offsetof(struct mock_dir, hold_ms), 0, 3600000 },
    { "big", offsetof(struct mock_dir, big), 0, MOCK_BIG_MAX },
    { "garbage", offsetof(struct mock_dir, garbage), -1, 0 },
    { "truncate", offsetof(struct mock_dir, truncate), -1, 0 },
    { "error_event", offsetof(struct mock_dir, error_event), -1, 0 },
    { "reset", offsetof(struct mock_dir, reset), -1, 0 },
    { "no_usage", offsetof(struct mock_dir, no_usage), -1, 0 },
    { "zero_usage", offsetof(struct mock_dir, zero_usage), -1, 0 },
    { "fat_event", offsetof(struct mock_dir, fat_event), 0, 1000000 },
};

static void mock_dir_init(struct mock_dir *d)
{
    memset(d, 0, sizeof *d);
    d->fail_first = d->delay_ms = d->stall_after = d->big = -1;
}

static void mock_dir_apply(struct mock_dir *d, const char *t, size_t n)
{
    const char *eq = memchr(t, '=', n);
    struct mock_span name = { t, eq ? (size_t)(eq - t) : n };
    struct mock_span v = { eq ? eq + 1 : "", eq ? n - name.n - 1 : 0 };
    size_t i;
    int *field;

    if (mock_span_eq(name, "retry_after")) {
        d->retry_after.len = 0;
        mock_pct_decode(&d->retry_after, v.p, v.n);
        return;
    }
    if (mock_span_eq(name, "text")) {
        d->has_text = 1;
        d->text.len = 0;
        mock_pct_decode(&d->text, v.p, v.n);
        return;
    }
    for (i = 0; i < sizeof g_dirdefs / sizeof g_dirdefs[0]; i++) {
        if (!mock_span_eq(name, g_dirdefs[i].name))
            continue;
        field = (int *)((char *)d + g_dirdefs[i].off);
        if (g_dirdefs[i].lo < 0)
            *field = 1;
        else
            *field = (int)mock_num(v, g_dirdefs[i].lo, g_dirdefs[i].hi,
                                   *field);
        return;
    }
}

static void mock_trim_buf(struct mock_buf *b)
{
    size_t s = 0;

    while (b->len && isspace((unsigned char)b->p[b->len - 1]))
        b->p[--b->len] = '\0';
    while (s < b->len && isspace((unsigned char)b->p[s]))
        s++;
    if (s)
        mock_buf_consume(b, s);
}

/* Collect [[mock:...]] directives from s; the rest of s goes to clean. */
static void mock_dir_parse(struct mock_dir *d, const char *s, size_t n,
                           struct mock_buf *clean)
{
    const char *p, *q;
    size_t i = 0;

    while (n && i < n && (p = memmem(s + i, n - i, "[[mock:", 7)) != NULL &&
           (q = memmem(p + 7, n - (size_t)(p + 7 - s), "]]", 2)) != NULL) {
        mock_buf_put(clean, s + i, (size_t)(p - s) - i);
        mock_dir_apply(d, p + 7, (size_t)(q - p - 7));
        mock_buf_put(&d->key, p, (size_t)(q + 2 - p));
        i = (size_t)(q + 2 - s);
    }
    if (n)
        mock_buf_put(clean, s + i, n - i);
    if (d->key.len)
        mock_trim_buf(clean);
}

/* fail_first=N: the first N requests with this directive set get the
 * failure directives, later ones a clean answer. */
static void mock_dir_gate(struct mock_dir *d)
{
    struct mock_ff *f;

    if (d->fail_first < 0)
        return;
    f = mock_ff_get(d->key.p, d->key.len);
    if (f->count < d->fail_first) {
        f->count++;
        if (!d->status && !d->reset && !d->garbage && !d->truncate &&
            d->stall_after < 0 && !d->error_event)
            d->status = 500;
        return;
    }
    d->status = d->reset = d->garbage = d->truncate = d->error_event = 0;
    d->stall_after = -1;
}

/* -------------------------------------------------------- request bodies */

static const char *mock_jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static void mock_jput(struct mock_buf *out, struct json_object *s)
{
    mock_buf_put(out, json_object_get_string(s),
                 (size_t)json_object_get_string_len(s));
}

/* A message's content: a string, or the text of its "text" blocks. */
static void mock_content_text(struct json_object *content,
                              struct mock_buf *out)
{
    struct json_object *blk, *t;
    const char *type;
    size_t i, n;

    if (json_object_is_type(content, json_type_string)) {
        mock_jput(out, content);
        return;
    }
    if (!json_object_is_type(content, json_type_array))
        return;
    n = json_object_array_length(content);
    for (i = 0; i < n; i++) {
        blk = json_object_array_get_idx(content, i);
        type = mock_jstr(blk, "type");
        if (type && strcmp(type, "text") == 0 &&
            json_object_object_get_ex(blk, "text", &t) &&
            json_object_is_type(t, json_type_string))
            mock_jput(out, t);
    }
}

static struct json_object *mock_json_parse(const char *s, size_t n)
{
    struct json_tokener *tok;
    struct json_object *o;

    if (n == 0 || n > INT_MAX || !(tok = json_tokener_new_ex(128)))
        return NULL;
    o = json_tokener_parse_ex(tok, s, (int)n);
    if (json_tokener_get_error(tok) != json_tokener_success && o) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static int mock_info_get(struct json_object *root, int api,
                         struct mock_info *in)
{
    struct json_object *msgs, *v, *m, *content;
    struct mock_buf tmp = { 0 };
    const char *role;
    size_t i, n, last = SIZE_MAX;

    in->model = mock_jstr(root, "model");
    if (!in->model)
        in->model = "mock-model";
    in->stream = json_object_object_get_ex(root, "stream", &v) &&
                 json_object_get_boolean(v);
    if (json_object_object_get_ex(root, "stream_options", &v) &&
        json_object_object_get_ex(v, "include_usage", &v))
        in->include_usage = json_object_get_boolean(v);
    if (!json_object_object_get_ex(root, "messages", &msgs) ||
        !json_object_is_type(msgs, json_type_array))
        return -1;
    n = json_object_array_length(msgs);
    for (i = 0; i < n; i++) {
        m = json_object_array_get_idx(msgs, i);
        role = mock_jstr(m, "role");
        tmp.len = 0;
        if (json_object_object_get_ex(m, "content", &content))
            mock_content_text(content, &tmp);
        in->in_bytes += tmp.len;
        if (api == MOCK_API_ANTHROPIC || (role && !strcmp(role, "user")))
            last = i;
    }
    mock_buf_free(&tmp);
    if (last != SIZE_MAX && json_object_object_get_ex(
            json_object_array_get_idx(msgs, last), "content", &content))
        mock_content_text(content, &in->last);
    return 0;
}

static void mock_answer_text(const struct mock_dir *d,
                             const struct mock_buf *echo, struct mock_buf *a)
{
    static const char lorem[] = "lorem ipsum ";
    size_t n, want;

    if (d->big >= 0) {
        for (want = (size_t)d->big; a->len < want;) {
            n = want - a->len;
            mock_buf_put(a, lorem, n < 12 ? n : 12);
        }
    } else if (d->has_text) {
        mock_buf_put(a, d->text.p, d->text.len);
    } else {
        mock_buf_str(a, "mock reply: ");
        n = echo->len;
        if (n > MOCK_ECHO_MAX) {
            n = MOCK_ECHO_MAX;
            while (n && ((unsigned char)echo->p[n] & 0xc0) == 0x80)
                n--;
        }
        mock_buf_put(a, echo->p, n);
    }
}

/* ------------------------------------------------------ response bodies */

static void mock_body_anthropic(struct mock_buf *b, const struct mock_ctx *x)
{
    mock_buf_printf(b, "{\"id\":\"msg_mock%lu\",\"type\":\"message\","
                    "\"role\":\"assistant\",\"model\":", x->serial);
    mock_buf_json(b, x->model, strlen(x->model));
    mock_buf_str(b, ",\"content\":[{\"type\":\"text\",\"text\":");
    mock_buf_json(b, x->ans, x->ans_len);
    mock_buf_str(b, "}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null");
    if (!x->no_usage)
        mock_buf_printf(b, ",\"usage\":{\"input_tokens\":%ld,\"output_tokens\":"
                        "%ld,\"cache_creation_input_tokens\":0,"
                        "\"cache_read_input_tokens\":0}", x->in_tok, x->out_tok);
    mock_buf_str(b, "}");
}

static void mock_body_openai(struct mock_buf *b, const struct mock_ctx *x)
{
    mock_buf_printf(b, "{\"id\":\"chatcmpl-mock%lu\",\"object\":"
                    "\"chat.completion\",\"created\":%lld,\"model\":",
                    x->serial, x->created);
    mock_buf_json(b, x->model, strlen(x->model));
    mock_buf_str(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                 "\"assistant\",\"content\":");
    mock_buf_json(b, x->ans, x->ans_len);
    mock_buf_str(b, ",\"refusal\":null},\"finish_reason\":\"stop\","
                 "\"logprobs\":null}]");
    if (!x->no_usage)
        mock_buf_printf(b, ",\"usage\":{\"prompt_tokens\":%ld,"
                        "\"completion_tokens\":%ld,\"total_tokens\":%ld}",
                        x->in_tok, x->out_tok, x->in_tok + x->out_tok);
    mock_buf_str(b, "}");
}

static void mock_ev_close(struct mock_evs *e, const char *tail)
{
    mock_buf_str(&e->d, tail);
    mock_buf_str(&e->d, "\n\n");
    mock_push_size(&e->end, &e->n, &e->cap, e->d.len);
}

static void mock_sse(struct mock_evs *e, const char *name)
{
    mock_buf_printf(&e->d, "event: %s\ndata: ", name);
}

static const char *mock_ev_ptr(const struct mock_evs *e, size_t i)
{
    return e->d.p + (i ? e->end[i - 1] : 0);
}

static size_t mock_ev_len(const struct mock_evs *e, size_t i)
{
    return e->end[i] - (i ? e->end[i - 1] : 0);
}

static void mock_oai_begin(struct mock_evs *e, const struct mock_ctx *x)
{
    mock_buf_printf(&e->d, "data: {\"id\":\"chatcmpl-mock%lu\",\"object\":"
                    "\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                    x->serial, x->created);
    mock_buf_json(&e->d, x->model, strlen(x->model));
    mock_buf_str(&e->d, ",\"system_fingerprint\":null,\"choices\":");
}

static void mock_oai_end(struct mock_evs *e, const struct mock_ctx *x)
{
    if (x->include_usage && !x->no_usage)
        mock_buf_str(&e->d, ",\"usage\":null");
    mock_ev_close(e, "}");
}

static void mock_ev_delta(struct mock_evs *e, const struct mock_ctx *x,
                          const char *s, size_t n)
{
    if (x->api == MOCK_API_ANTHROPIC) {
        mock_sse(e, "content_block_delta");
        mock_buf_str(&e->d, "{\"type\":\"content_block_delta\",\"index\":0,"
                     "\"delta\":{\"type\":\"text_delta\",\"text\":");
        mock_buf_json(&e->d, s, n);
        mock_ev_close(e, "}}");
        return;
    }
    mock_oai_begin(e, x);
    mock_buf_str(&e->d, "[{\"index\":0,\"delta\":{\"content\":");
    mock_buf_json(&e->d, s, n);
    mock_buf_str(&e->d, "},\"logprobs\":null,\"finish_reason\":null}]");
    mock_oai_end(e, x);
}

static void mock_ev_error(struct mock_evs *e, const struct mock_ctx *x)
{
    if (x->api == MOCK_API_ANTHROPIC) {
        mock_sse(e, "error");
        mock_ev_close(e, "{\"type\":\"error\",\"error\":{\"type\":"
                      "\"overloaded_error\",\"message\":\"Overloaded\"}}");
        return;
    }
    mock_ev_close(e, "data: {\"error\":{\"message\":\"Overloaded\",\"type\":"
                  "\"server_error\",\"param\":null,\"code\":null}}");
}

/* Length of the piece of about MOCK_PIECE bytes starting at `at`, never
 * ending inside a UTF-8 sequence. */
static size_t mock_piece(const char *s, size_t n, size_t at)
{
    size_t end = at + MOCK_PIECE;

    if (end >= n)
        return n - at;
    while (end > at + 1 && ((unsigned char)s[end] & 0xc0) == 0x80)
        end--;
    return end - at;
}

/* Text deltas; returns -1 if an error event ended the stream. */
static int mock_ev_deltas(struct mock_evs *e, const struct mock_ctx *x)
{
    size_t at = 0, k = 0, n;

    while (at < x->ans_len && !(x->error_event && k == 3)) {
        n = mock_piece(x->ans, x->ans_len, at);
        mock_ev_delta(e, x, x->ans + at, n);
        at += n;
        k++;
    }
    if (!x->error_event)
        return 0;
    mock_ev_error(e, x);
    return -1;
}

/* fat_event=N: one event of N data: lines of 1 KiB each, before the
 * answer (a provider's runaway event). */
static void mock_ev_fat(struct mock_evs *e, const struct mock_ctx *x)
{
    static const char line[] = "data: "
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    int i, j;

    if (x->fat_event <= 0)
        return;
    mock_buf_str(&e->d, "event: ping\n");
    for (i = 0; i < x->fat_event; i++) {
        for (j = 0; j < 16; j++)    /* 16 x 64 bytes of value per line */
            mock_buf_str(&e->d, j ? line + 6 : line);
        mock_buf_str(&e->d, "\n");
    }
    mock_buf_str(&e->d, "\n");
    mock_push_size(&e->end, &e->n, &e->cap, e->d.len);
}

static void mock_ev_anthropic(struct mock_evs *e, const struct mock_ctx *x)
{
    mock_ev_fat(e, x);
    mock_sse(e, "message_start");
    mock_buf_printf(&e->d, "{\"type\":\"message_start\",\"message\":{\"id\":"
                    "\"msg_mock%lu\",\"type\":\"message\",\"role\":"
                    "\"assistant\",\"model\":", x->serial);
    mock_buf_json(&e->d, x->model, strlen(x->model));
    mock_buf_str(&e->d, ",\"content\":[],\"stop_reason\":null,"
                 "\"stop_sequence\":null");
    if (!x->no_usage)
        mock_buf_printf(&e->d, ",\"usage\":{\"input_tokens\":%ld,"
                        "\"output_tokens\":1,\"cache_creation_input_tokens\":0,"
                        "\"cache_read_input_tokens\":0}", x->in_tok);
    mock_ev_close(e, "}}");
    mock_sse(e, "content_block_start");
    mock_ev_close(e, "{\"type\":\"content_block_start\",\"index\":0,"
                  "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    mock_sse(e, "ping");
    mock_ev_close(e, "{\"type\":\"ping\"}");
    if (mock_ev_deltas(e, x) < 0)
        return;
    mock_sse(e, "content_block_stop");
    mock_ev_close(e, "{\"type\":\"content_block_stop\",\"index\":0}");
    mock_sse(e, "message_delta");
    mock_buf_str(&e->d, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                 "\"end_turn\",\"stop_sequence\":null}");
    if (!x->no_usage)
        mock_buf_printf(&e->d, ",\"usage\":{\"output_tokens\":%ld}",
                        x->out_tok);
    mock_ev_close(e, "}");
    mock_sse(e, "message_stop");
    mock_ev_close(e, "{\"type\":\"message_stop\"}");
}

static void mock_ev_openai(struct mock_evs *e, const struct mock_ctx *x)
{
    mock_ev_fat(e, x);
    mock_oai_begin(e, x);
    mock_buf_str(&e->d, "[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                 "\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
                 "\"finish_reason\":null}]");
    mock_oai_end(e, x);
    if (mock_ev_deltas(e, x) < 0)
        return;
    mock_oai_begin(e, x);
    mock_buf_str(&e->d, "[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                 "\"finish_reason\":\"stop\"}]");
    mock_oai_end(e, x);
    if (x->include_usage && !x->no_usage) {
        mock_oai_begin(e, x);
        mock_buf_printf(&e->d, "[],\"usage\":{\"prompt_tokens\":%ld,"
                        "\"completion_tokens\":%ld,\"total_tokens\":%ld}",
                        x->in_tok, x->out_tok, x->in_tok + x->out_tok);
        mock_ev_close(e, "}");
    }
    mock_ev_close(e, "data: [DONE]");
}

/* ------------------------------------------------------- response modes */

static void mock_emit(struct mock_conn *c, const char *p, size_t n, int half)
{
    if (c->chunked)
        mock_buf_printf(&c->out, "%zx\r\n", n);
    mock_buf_put(&c->out, p, half ? n / 2 : n);
    if (c->chunked && !half)
        mock_buf_str(&c->out, "\r\n");
}

static void mock_stream_plan(struct mock_conn *c, const struct mock_evs *e,
                             const struct mock_dir *d, int delay)
{
    size_t i, nsend = e->n;
    int end = MOCK_END_KEEP;

    if (d->truncate) {
        nsend = e->n / 2;
        end = MOCK_END_CLOSE;
    } else if (d->stall_after >= 0) {
        nsend = (size_t)d->stall_after < e->n ? (size_t)d->stall_after : e->n;
        end = MOCK_END_STALL;
    }
    for (i = 0; i < nsend; i++) {
        if (i)
            mock_plan_cut(c);
        mock_emit(c, mock_ev_ptr(e, i), mock_ev_len(e, i), 0);
    }
    if (d->truncate && nsend < e->n) {
        if (nsend)
            mock_plan_cut(c);
        mock_emit(c, mock_ev_ptr(e, nsend), mock_ev_len(e, nsend), 1);
    } else if (end == MOCK_END_KEEP && c->chunked) {
        mock_buf_str(&c->out, "0\r\n\r\n");
    }
    mock_plan_start(c, delay, end, d->hold_ms);
}

static void mock_stream(struct mock_conn *c, const struct mock_ctx *x,
                        const struct mock_dir *d, int delay)
{
    struct mock_evs e = { { 0 }, NULL, 0, 0 };
    struct mock_buf h = { 0 };

    if (x->api == MOCK_API_ANTHROPIC)
        mock_ev_anthropic(&e, x);
    else
        mock_ev_openai(&e, x);
    mock_extra(&h, x->api, x->serial, 200);
    mock_buf_str(&h, "cache-control: no-cache\r\n");
    mock_head(c, 200, "text/event-stream", -1, h.p);
    mock_stream_plan(c, &e, d, delay);
    c->streaming = 1;
    g_open_streams++;
    mock_buf_free(&e.d);
    free(e.end);
    mock_buf_free(&h);
}

static void mock_full(struct mock_conn *c, const struct mock_ctx *x,
                      const struct mock_dir *d, int delay)
{
    struct mock_buf b = { 0 }, h = { 0 };
    int end = d->truncate ? MOCK_END_CLOSE :
              d->stall_after >= 0 ? MOCK_END_STALL : MOCK_END_KEEP;

    if (x->api == MOCK_API_ANTHROPIC)
        mock_body_anthropic(&b, x);
    else
        mock_body_openai(&b, x);
    mock_extra(&h, x->api, x->serial, 200);
    mock_head(c, 200, "application/json", (long long)b.len, h.p);
    mock_buf_put(&c->out, b.p, end == MOCK_END_KEEP ? b.len : b.len / 2);
    mock_plan_start(c, delay, end, 0);
    mock_buf_free(&b);
    mock_buf_free(&h);
}

static void mock_garbage(struct mock_conn *c, int api, unsigned long serial,
                         int delay)
{
    static const char junk[] = "{\"id\": \"msg_\x00\x01\x02\xff\xfe\x80"
                               "<html>garbage\x1b[0m\xc3";
    struct mock_buf h = { 0 };

    mock_extra(&h, api, serial, 200);
    mock_respond(c, 200, h.p, junk, sizeof junk - 1, delay, MOCK_END_KEEP);
    mock_buf_free(&h);
}

static void mock_answer(struct mock_conn *c, int api, unsigned long serial,
                        const struct mock_info *in)
{
    struct mock_dir d;
    struct mock_buf echo = { 0 }, ans = { 0 };
    struct mock_ctx x;
    int delay;

    mock_dir_init(&d);
    mock_dir_parse(&d, in->last.p, in->last.len, &echo);
    mock_dir_gate(&d);
    delay = d.delay_ms >= 0 ? d.delay_ms : g_opt.delay_ms;
    if (d.reset) {
        mock_plan_start(c, delay, MOCK_END_RESET, 0);
    } else if (d.status >= 400) {
        g_retry_after = d.retry_after.len ? d.retry_after.p : NULL;
        mock_error(c, api, d.status, serial, MOCK_DETAIL, delay);
        g_retry_after = NULL;
    } else if (d.garbage) {
        mock_garbage(c, api, serial, delay);
    } else {
        mock_answer_text(&d, &echo, &ans);
        x = (struct mock_ctx){ api, in->include_usage, d.no_usage,
                               d.error_event, serial, in->model,
                               (long long)time(NULL), 0, 0, ans.p, ans.len };
        x.fat_event = d.fat_event;
        x.in_tok = in->in_bytes / 4 > 1 ? (long)(in->in_bytes / 4) : 1;
        x.out_tok = ans.len / 4 > 1 ? (long)(ans.len / 4) : 1;
        if (d.zero_usage)
            x.in_tok = x.out_tok = 0;
        if (in->stream)
            mock_stream(c, &x, &d, delay);
        else
            mock_full(c, &x, &d, delay);
    }
    mock_buf_free(&echo);
    mock_buf_free(&ans);
    mock_buf_free(&d.text);
    mock_buf_free(&d.retry_after);
    mock_buf_free(&d.key);
}

/* -------------------------------------------------------- provider APIs */

static struct mock_span mock_bearer(struct mock_span a)
{
    if (a.n >= 7 && strncasecmp(a.p, "Bearer ", 7) == 0)
        return mock_trim(a.p + 7, a.n - 7);
    return a;
}

static int mock_key_eq(struct mock_span s)
{
    size_t n = strlen(g_opt.key);

    return s.p && s.n == n && memcmp(s.p, g_opt.key, n) == 0;
}

static struct mock_span mock_req_key(const struct mock_req *r, int api,
                                     const char **hdr)
{
    *hdr = NULL;
    if (api == MOCK_API_ANTHROPIC) {
        *hdr = r->xkey.p ? "x-api-key" : NULL;
        return r->xkey;
    }
    if (r->auth.p) {
        *hdr = "authorization";
        return mock_bearer(r->auth);
    }
    *hdr = r->apikey.p ? "api-key" : NULL;
    return r->apikey;
}

static int mock_auth_ok(const struct mock_req *r, int api)
{
    if (!g_opt.key)
        return 1;
    if (api == MOCK_API_ANTHROPIC)
        return mock_key_eq(r->xkey);
    return (r->auth.p && mock_key_eq(mock_bearer(r->auth))) ||
           mock_key_eq(r->apikey);
}

static void mock_log(const struct mock_conn *c, const struct mock_req *r,
                     int api, const char *body, size_t blen,
                     unsigned long serial)
{
    struct mock_buf b = { 0 };
    struct timespec ts;
    const char *hdr;
    struct mock_span key = mock_req_key(r, api, &hdr);

    if (g_logfd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    mock_buf_printf(&b, "{\"ts\":%lld.%03ld,\"path\":", (long long)ts.tv_sec,
                    ts.tv_nsec / 1000000);
    mock_buf_jspan(&b, r->target);
    mock_buf_printf(&b, ",\"api\":\"%s\",\"key\":",
                    api == MOCK_API_ANTHROPIC ? "anthropic" : "openai");
    mock_buf_jspan(&b, key);
    mock_buf_str(&b, ",\"anthropic_version\":");
    mock_buf_jspan(&b, r->aver);
    mock_buf_str(&b, ",\"body\":");
    mock_buf_json(&b, body, blen);
    mock_buf_printf(&b, ",\"conn\":%lu,\"request\":%lu,\"key_header\":",
                    c->serial, serial);
    mock_buf_jspan(&b, (struct mock_span){ hdr, hdr ? strlen(hdr) : 0 });
    mock_buf_str(&b, ",\"method\":");
    mock_buf_jspan(&b, r->method);
    mock_buf_str(&b, "}\n");
    mock_write_all(g_logfd, b.p, b.len);
    mock_buf_free(&b);
}

static void mock_provider(struct mock_conn *c, const struct mock_req *r,
                          int api, const char *body, size_t blen)
{
    unsigned long serial = ++g_req_serial;
    struct json_object *root = NULL;
    struct mock_info in;

    memset(&in, 0, sizeof in);
    g_st.requests++;
    mock_log(c, r, api, body, blen, serial);
    if (!mock_auth_ok(r, api)) {
        mock_error(c, api, 401, serial, api == MOCK_API_ANTHROPIC ?
                   "mock internal detail: invalid x-api-key" :
                   "mock internal detail: Incorrect API key provided",
                   g_opt.delay_ms);
        return;
    }
    root = mock_json_parse(body, blen);
    if (!root || mock_info_get(root, api, &in) < 0)
        mock_error(c, api, 400, serial, "mock internal detail: request "
                   "body is not JSON with a messages array", g_opt.delay_ms);
    else
        mock_answer(c, api, serial, &in);
    mock_buf_free(&in.last);
    if (root)
        json_object_put(root);
}

/* ------------------------------------------------------------ HTTP input */

static long long mock_clen(struct mock_span v)
{
    long long x = 0;
    size_t i;

    if (v.n == 0 || v.n > 15)
        return -2;
    for (i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -2;
        x = x * 10 + (v.p[i] - '0');
    }
    return x;
}

static int mock_req_line(struct mock_req *r, const char *p, size_t n)
{
    const char *sp1 = memchr(p, ' ', n), *sp2;
    struct mock_span ver;

    if (!sp1)
        return -1;
    sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
    if (!sp2)
        return -1;
    r->method = (struct mock_span){ p, (size_t)(sp1 - p) };
    r->target = (struct mock_span){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
    ver = (struct mock_span){ sp2 + 1, n - (size_t)(sp2 + 1 - p) };
    if (ver.n != 8 || strncmp(ver.p, "HTTP/1.", 7) != 0)
        return -1;
    r->http10 = ver.p[7] == '0';
    return r->method.n && r->target.n ? 0 : -1;
}

static void mock_req_header(struct mock_req *r, const char *p, size_t n)
{
    static const struct { const char *name; size_t off; } tab[] = {
        { "x-api-key", offsetof(struct mock_req, xkey) },
        { "authorization", offsetof(struct mock_req, auth) },
        { "api-key", offsetof(struct mock_req, apikey) },
        { "anthropic-version", offsetof(struct mock_req, aver) },
        { "connection", offsetof(struct mock_req, conn) },
        { "expect", offsetof(struct mock_req, expect) },
        { "transfer-encoding", offsetof(struct mock_req, te) },
    };
    const char *colon = memchr(p, ':', n);
    struct mock_span name, val;
    size_t i;

    if (!colon)
        return;
    name = mock_trim(p, (size_t)(colon - p));
    val = mock_trim(colon + 1, n - (size_t)(colon + 1 - p));
    if (mock_span_eq(name, "content-length"))
        r->clen = mock_clen(val);
    for (i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (mock_span_eq(name, tab[i].name))
            *(struct mock_span *)((char *)r + tab[i].off) = val;
}

/* 1: complete head parsed; 0: need more; -1: malformed; -2: too large. */
static int mock_req_parse(const char *buf, size_t len, struct mock_req *r)
{
    size_t lim = len < MOCK_MAX_HDR ? len : MOCK_MAX_HDR;
    const char *end = memmem(buf, lim, "\r\n\r\n", 4), *p, *eol, *stop;

    memset(r, 0, sizeof *r);
    r->clen = -1;
    if (!end)
        return len >= MOCK_MAX_HDR ? -2 : 0;
    r->hdr_len = (size_t)(end + 4 - buf);
    stop = end + 2;
    eol = memmem(buf, (size_t)(stop - buf), "\r\n", 2);
    if (mock_req_line(r, buf, (size_t)(eol - buf)) < 0)
        return -1;
    for (p = eol + 2; p < stop; p = eol + 2) {
        eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
        mock_req_header(r, p, (size_t)(eol - p));
    }
    return r->clen == -2 ? -1 : 1;
}

static int mock_route(struct mock_span t)
{
    const char *q = memchr(t.p, '?', t.n);
    struct mock_span path = { t.p, q ? (size_t)(q - t.p) : t.n };
    static const char oai[] = "/chat/completions";
    size_t ol = sizeof oai - 1;

    if (mock_span_eq(path, "/v1/messages"))
        return MOCK_API_ANTHROPIC;
    if (path.n >= ol && memcmp(path.p + path.n - ol, oai, ol) == 0)
        return MOCK_API_OPENAI;
    if (mock_span_eq(path, "/_mock/stats"))
        return MOCK_R_STATS;
    if (mock_span_eq(path, "/_mock/reset"))
        return MOCK_R_RESET;
    if (mock_span_eq(path, "/_mock/health"))
        return MOCK_R_HEALTH;
    return MOCK_R_NONE;
}

static void mock_dispatch(struct mock_conn *c, const struct mock_req *r,
                          int route, const char *body, size_t blen)
{
    int post = mock_span_eq(r->method, "POST");
    int get = mock_span_eq(r->method, "GET");
    static const char ok[] = "{\"ok\":true}";

    if (route == MOCK_R_NONE) {
        mock_respond(c, 404, NULL, "{\"error\":\"not found\"}", 21, 0,
                     MOCK_END_KEEP);
    } else if ((route == MOCK_API_ANTHROPIC || route == MOCK_API_OPENAI) &&
               post) {
        mock_provider(c, r, route, body, blen);
    } else if (route == MOCK_R_STATS && get) {
        mock_send_stats(c);
    } else if ((route == MOCK_R_RESET && post) ||
               (route == MOCK_R_HEALTH && get)) {
        if (route == MOCK_R_RESET)
            mock_stats_reset();
        mock_respond(c, 200, NULL, ok, sizeof ok - 1, 0, MOCK_END_KEEP);
    } else {
        mock_respond(c, 405, NULL, "{\"error\":\"method not allowed\"}", 30,
                     0, MOCK_END_KEEP);
    }
}

static void mock_maybe_continue(struct mock_conn *c, const struct mock_req *r)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    if (c->sent_continue || !mock_span_has(r->expect, "100-continue"))
        return;
    c->sent_continue = 1;
    /* a failure here is noticed by the next read or write */
    (void)send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
}

/* Start answering the next buffered request: 1 started, 0 need more. */
static int mock_conn_next(struct mock_conn *c)
{
    struct mock_req r;
    size_t skip = 0, blen;
    int rc, route;

    while (skip < c->in.len && (c->in.p[skip] == '\r' || c->in.p[skip] == '\n'))
        skip++;
    mock_buf_consume(&c->in, skip);
    if (c->in.len == 0)
        return 0;
    rc = mock_req_parse(c->in.p, c->in.len, &r);
    if (rc <= 0)
        return rc == 0 ? 0 : mock_reject(c, rc == -2 ? 431 : 400, MOCK_R_NONE);
    route = mock_route(r.target);
    if (r.te.p)
        return mock_reject(c, 411, route);
    if (r.clen > (long long)MOCK_MAX_BODY)
        return mock_reject(c, 413, route);
    blen = r.clen > 0 ? (size_t)r.clen : 0;
    if (c->in.len < r.hdr_len + blen) {
        mock_maybe_continue(c, &r);
        return 0;
    }
    c->keep_alive = !r.http10 && !mock_span_has(r.conn, "close");
    c->chunked = !r.http10;
    mock_dispatch(c, &r, route, c->in.p + r.hdr_len, blen);
    mock_buf_consume(&c->in, r.hdr_len + blen);
    c->sent_continue = 0;
    return 1;
}

/* ----------------------------------------------------------- connections */

static void mock_conn_end_response(struct mock_conn *c)
{
    if (c->streaming) {
        g_open_streams--;
        c->streaming = 0;
    }
    c->responding = c->stalled = 0;
    mock_buf_free(&c->out);
    free(c->cuts);
    c->cuts = NULL;
    c->ncuts = c->cuts_cap = c->icut = c->out_off = c->limit = 0;
}

static int mock_conn_close(struct mock_conn *c, int peer)
{
    if (peer && c->responding)
        g_st.closed_early++;
    if (c->streaming)
        g_open_streams--;
    mock_timer_clear(c);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    g_open_conns--;
    mock_buf_free(&c->in);
    mock_buf_free(&c->out);
    free(c->cuts);
    free(c);
    return -1;
}

static int mock_conn_finish(struct mock_conn *c)
{
    struct linger lg = { 1, 0 };

    switch (c->end) {
    case MOCK_END_STALL:
        c->stalled = 1;
        return 0;
    case MOCK_END_CLOSE:
        return mock_conn_close(c, 0);
    case MOCK_END_RESET:
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        return mock_conn_close(c, 0);
    case MOCK_END_LINGER:
        mock_conn_end_response(c);
        shutdown(c->fd, SHUT_WR);
        c->lingering = 1;
        c->in.len = 0;
        mock_timer_set(c, MOCK_LINGER_MS);
        return 0;
    }
    mock_conn_end_response(c);
    return c->keep_alive ? 0 : mock_conn_close(c, 0);
}

/* Send what the plan allows now; returns -1 if the connection is gone. */
static int mock_conn_pump(struct mock_conn *c)
{
    ssize_t n;

    while (c->responding && !c->stalled) {
        if (c->out_off < c->limit) {
            n = send(c->fd, c->out.p + c->out_off, c->limit - c->out_off,
                     MSG_NOSIGNAL);
            c->blocked = 0;
            if (n > 0) {
                c->out_off += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                c->blocked = 1;
                return 0;
            }
            return mock_conn_close(c, 1);
        }
        if (c->icut >= c->ncuts)
            return mock_conn_finish(c);
        if (c->heap_idx >= 0)
            return 0;               /* waiting for the timer */
        if (c->next_delay > 0) {
            mock_timer_set(c, c->next_delay);
            return 0;
        }
        c->limit = c->cuts[c->icut++];
        c->next_delay = c->gap_ms;
    }
    return 0;
}

static int mock_conn_run(struct mock_conn *c)
{
    for (;;) {
        if (c->responding) {
            if (mock_conn_pump(c) < 0)
                return -1;
            if (c->responding)
                return 0;
        }
        if (c->lingering || !mock_conn_next(c))
            return 0;
    }
}

/* Read what is available; returns 1 on EOF or error. */
static int mock_conn_fill(struct mock_conn *c)
{
    ssize_t n;
    int i;

    for (i = 0; i < 64 && c->in.len < MOCK_IN_CAP; i++) {
        n = recv(c->fd, g_rbuf, sizeof g_rbuf, 0);
        if (n > 0) {
            if (!c->lingering)
                mock_buf_put(&c->in, g_rbuf, (size_t)n);
            if ((size_t)n < sizeof g_rbuf)
                return 0;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        return errno != EAGAIN && errno != EWOULDBLOCK;
    }
    return 0;
}

static int mock_conn_read(struct mock_conn *c)
{
    int eof = mock_conn_fill(c);

    if (c->lingering)
        return eof ? mock_conn_close(c, 0) : 0;
    if (eof && c->responding)
        return mock_conn_close(c, 1);
    if (mock_conn_run(c) < 0)
        return -1;
    return eof ? mock_conn_close(c, 1) : 0;
}

static void mock_conn_sync(struct mock_conn *c)
{
    struct epoll_event ev;
    uint32_t m = 0;

    if (c->in.len < MOCK_IN_CAP)
        m |= EPOLLIN;
    if (c->blocked)
        m |= EPOLLOUT;
    if (m == c->mask)
        return;
    memset(&ev, 0, sizeof ev);
    ev.events = m;
    ev.data.ptr = c;
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->mask = m;
}

static void mock_conn_new(int fd)
{
    struct epoll_event ev;
    struct mock_conn *c;
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c = calloc(1, sizeof *c);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (!c || epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->fd = fd;
    c->serial = ++g_conn_serial;
    c->heap_idx = -1;
    c->keep_alive = c->chunked = 1;
    c->mask = EPOLLIN;
    c->next = g_conns;
    if (g_conns)
        g_conns->prev = c;
    g_conns = c;
    g_st.connections++;
    g_open_conns++;
}

/* Out of descriptors: drop one pending connection using a spare fd. */
static void mock_shed(void)
{
    int fd;

    close(g_spare);
    fd = accept(g_lfd, NULL, NULL);
    if (fd >= 0)
        close(fd);
    g_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fputs("mock-provider: out of file descriptors\n", stderr);
}

static void mock_accept(void)
{
    int i, fd;

    for (i = 0; i < 256; i++) {
        fd = accept4(g_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            mock_conn_new(fd);
        } else if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        } else if ((errno == EMFILE || errno == ENFILE) && g_spare >= 0) {
            mock_shed();
        } else {
            return;
        }
    }
}

/* ------------------------------------------------------------ main loop */

static void mock_event(const struct epoll_event *ev)
{
    struct signalfd_siginfo si;
    struct mock_conn *c = ev->data.ptr;
    int rc;

    if (ev->data.ptr == &g_tag_listen) {
        mock_accept();
        return;
    }
    if (ev->data.ptr == &g_tag_sig) {
        if (read(g_sfd, &si, sizeof si) > 0)
            g_quit = 1;
        return;
    }
    if (ev->events & (EPOLLERR | EPOLLHUP)) {
        mock_conn_close(c, 1);
        return;
    }
    rc = (ev->events & EPOLLIN) ? mock_conn_read(c) : mock_conn_run(c);
    if (rc == 0)
        mock_conn_sync(c);
}

static void mock_timers_fire(void)
{
    long long now = mock_now();
    struct mock_conn *c;

    while (g_heap_len && g_heap[0]->deadline <= now) {
        c = g_heap[0];
        mock_timer_clear(c);
        if (c->lingering) {
            mock_conn_close(c, 0);
            continue;
        }
        c->next_delay = 0;
        if (mock_conn_run(c) == 0)
            mock_conn_sync(c);
    }
}

static void mock_loop(void)
{
    struct epoll_event ev[256];
    int i, n;

    while (!g_quit) {
        n = epoll_wait(g_ep, ev, 256, mock_timeout());
        if (n < 0 && errno != EINTR) {
            perror("mock-provider: epoll_wait");
            return;
        }
        for (i = 0; i < n; i++)
            mock_event(&ev[i]);
        mock_timers_fire();
    }
}

/* ---------------------------------------------------------------- setup */

static int mock_is_listener(int fd)
{
    int v = 0;
    socklen_t l = sizeof v;

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v;
}

static int mock_bind(int port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        close(fd);
        return -1;
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

static int mock_listener(void)
{
    int fd = -1;

    if (g_opt.listen_fd >= 0)
        fd = g_opt.listen_fd;
    else if (g_opt.port >= 0)
        fd = mock_bind(g_opt.port);
    else if (mock_is_listener(0))
        fd = 0;
    if (fd < 0 || !mock_is_listener(fd)) {
        fputs("mock-provider: no listening socket (use --port N or "
              "--listen-fd N)\n", stderr);
        return -1;
    }
    listen(fd, SOMAXCONN);          /* raise an inherited backlog */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

static int mock_epoll_add(int fd, void *tag)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = tag;
    return epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
}

static int mock_signals(void)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    g_sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return g_sfd < 0 ? -1 : mock_epoll_add(g_sfd, &g_tag_sig);
}

static void mock_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int mock_write_pid(void)
{
    FILE *f;

    if (!g_opt.pid_path)
        return 0;
    f = fopen(g_opt.pid_path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static int mock_setup(void)
{
    mock_raise_nofile();
    if ((g_lfd = mock_listener()) < 0)
        return -1;
    if (g_opt.log_path) {
        g_logfd = open(g_opt.log_path,
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (g_logfd < 0) {
            perror(g_opt.log_path);
            return -1;
        }
    }
    if (mock_write_pid() < 0) {
        perror(g_opt.pid_path);
        return -1;
    }
    g_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0 || mock_epoll_add(g_lfd, &g_tag_listen) < 0 ||
        mock_signals() < 0) {
        perror("mock-provider: setup");
        return -1;
    }
    return 0;
}

static void mock_cleanup(void)
{
    while (g_conns)
        mock_conn_close(g_conns, 0);
    mock_stats_reset();
    free(g_heap);
    free(g_opt.key);
    if (g_opt.pid_path)
        unlink(g_opt.pid_path);
    if (g_logfd >= 0)
        close(g_logfd);
    close(g_ep);
    close(g_sfd);
    close(g_lfd);
    if (g_spare >= 0)
        close(g_spare);
}

static char *mock_read_key(const char *path)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "r");

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return strdup(buf);
}

static void mock_usage(FILE *f)
{
    fputs("usage: mock-provider [--port N | --listen-fd N] [--key KEY | "
          "--key-file PATH]\n"
          "                     [--log FILE] [--pid-file FILE] "
          "[--delay-ms N]\n"
          "Without --port/--listen-fd, fd 0 is used if it is a listening "
          "socket.\n", f);
}

static int mock_opt_num(const char *s, long lo, long hi, int *out)
{
    long v = mock_num((struct mock_span){ s, strlen(s) }, lo, hi, LONG_MIN);

    if (v == LONG_MIN) {
        fprintf(stderr, "mock-provider: bad number '%s'\n", s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int mock_opts(int argc, char **argv)
{
    static const struct option opts[] = {
        { "port", required_argument, NULL, 'p' },
        { "listen-fd", required_argument, NULL, 'f' },
        { "key", required_argument, NULL, 'k' },
        { "key-file", required_argument, NULL, 'K' },
        { "log", required_argument, NULL, 'l' },
        { "pid-file", required_argument, NULL, 'P' },
        { "delay-ms", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch, rc = 0;

    while (rc == 0 && (ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'p': rc = mock_opt_num(optarg, 0, 65535, &g_opt.port); break;
        case 'f': rc = mock_opt_num(optarg, 0, INT_MAX, &g_opt.listen_fd);
                  break;
        case 'd': rc = mock_opt_num(optarg, 0, 3600000, &g_opt.delay_ms);
                  break;
        case 'l': g_opt.log_path = optarg; break;
        case 'P': g_opt.pid_path = optarg; break;
        case 'k':
            free(g_opt.key);
            g_opt.key = strdup(optarg);
            break;
        case 'K':
            free(g_opt.key);
            if (!(g_opt.key = mock_read_key(optarg))) {
                perror(optarg);
                rc = -1;
            }
            break;
        case 'h': mock_usage(stdout); exit(0);
        default: mock_usage(stderr); rc = -1; break;
        }
    }
    return rc == 0 && optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (mock_opts(argc, argv) < 0) {
        free(g_opt.key);
        return 2;
    }
    if (mock_setup() < 0)
        return 1;
    mock_loop();
    mock_cleanup();
    return 0;
}
