#include "upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct cg_upstream_s {
    CURL               *h;
    struct curl_slist  *headers;
    char               *url;
};


int
cg_upstream_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}


static size_t
cg_upstream_write(char *p, size_t size, size_t n, void *user)
{
    cg_buf_t *b = user;

    n *= size;
    if (b->len + n > CG_UPSTREAM_MAX_BODY) {
        return 0;       /* makes curl fail with CURLE_WRITE_ERROR */
    }
    cg_buf_add(b, p, n);
    return b->oom ? 0 : n;
}


static struct curl_slist *
cg_upstream_headers(const cg_conf_t *conf)
{
    struct curl_slist *l = NULL, *t;
    cg_buf_t           h;

    cg_buf_init(&h);
    cg_buf_adds(&h, "x-api-key: ");
    cg_buf_add(&h, conf->api_key.data, conf->api_key.len);
    if (h.oom) {
        return NULL;
    }
    l = curl_slist_append(l, h.data);
    explicit_bzero(h.data, h.len);
    cg_buf_free(&h);
    if (l == NULL) {
        return NULL;
    }
    cg_buf_addf(&h, "anthropic-version: %s", conf->anthropic_version);
    t = curl_slist_append(l, h.data ? h.data : "");
    cg_buf_free(&h);
    if (t == NULL) {
        return l;
    }
    /* No "Expect: 100-continue" round trip for larger prompts. */
    t = curl_slist_append(t, "Expect:");
    t = t ? curl_slist_append(t, "content-type: application/json") : NULL;
    return t ? t : l;
}


cg_upstream_t *
cg_upstream_new(const cg_conf_t *conf)
{
    cg_upstream_t *up;
    cg_buf_t       url;

    up = calloc(1, sizeof(*up));
    if (up == NULL) {
        return NULL;
    }
    cg_buf_init(&url);
    cg_buf_adds(&url, conf->base_url);
    while (url.len && url.data[url.len - 1] == '/') {
        url.data[--url.len] = '\0';
    }
    cg_buf_adds(&url, "/v1/messages");
    up->url = url.data;
    up->h = curl_easy_init();
    up->headers = cg_upstream_headers(conf);
    if (up->h == NULL || up->headers == NULL || url.oom) {
        cg_upstream_free(up);
        return NULL;
    }
    curl_easy_setopt(up->h, CURLOPT_URL, up->url);
    curl_easy_setopt(up->h, CURLOPT_HTTPHEADER, up->headers);
    curl_easy_setopt(up->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(up->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(up->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(up->h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(up->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(up->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(up->h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) conf->connect_timeout_ms);
    curl_easy_setopt(up->h, CURLOPT_TIMEOUT_MS, (long) conf->timeout_ms);
    curl_easy_setopt(up->h, CURLOPT_WRITEFUNCTION, cg_upstream_write);
    if (conf->ca_file && conf->ca_file[0]) {
        curl_easy_setopt(up->h, CURLOPT_CAINFO, conf->ca_file);
    }
    return up;
}


void
cg_upstream_free(cg_upstream_t *up)
{
    struct curl_slist *l;

    if (up == NULL) {
        return;
    }
    if (up->h) {
        curl_easy_cleanup(up->h);
    }
    for (l = up->headers; l; l = l->next) {
        explicit_bzero(l->data, strlen(l->data));
    }
    curl_slist_free_all(up->headers);
    free(up->url);
    free(up);
}


cg_up_rc_t
cg_upstream_post(cg_upstream_t *up, const char *body, size_t len,
                 cg_buf_t *resp, long *status, char *why, size_t whylen)
{
    CURLcode rc;

    cg_buf_reset(resp);
    *status = 0;
    curl_easy_setopt(up->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(up->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(up->h, CURLOPT_WRITEDATA, resp);
    rc = curl_easy_perform(up->h);
    curl_easy_getinfo(up->h, CURLINFO_RESPONSE_CODE, status);
    if (rc == CURLE_OK) {
        return CG_UP_OK;
    }
    snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    return rc == CURLE_OPERATION_TIMEDOUT ? CG_UP_TIMEOUT : CG_UP_FAILED;
}
