#include "log/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>


void
cg_report_init(cg_report_t *rp)
{
    memset(rp, 0, sizeof(*rp));
}


static void
cg_report_table_free(cg_report_table_t *t)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        free(t->row[i].name);
    }
    free(t->row);
    free(t->index);
    memset(t, 0, sizeof(*t));
}


void
cg_report_free(cg_report_t *rp)
{
    cg_report_table_free(&rp->groups);
    cg_report_table_free(&rp->users);
}


static size_t
cg_report_hash(const char *s)
{
    size_t h = 5381;

    while (*s) {
        h = h * 33 ^ (unsigned char) *s++;
    }
    return h;
}


/* Rebuilds the index at twice the size; rows keep their places. */
static int
cg_report_reindex(cg_report_table_t *t)
{
    size_t  cap = t->index_cap ? t->index_cap * 2 : 64, i, j;
    size_t *idx = calloc(cap, sizeof(*idx));

    if (idx == NULL) {
        return -1;
    }
    for (i = 0; i < t->n; i++) {
        for (j = cg_report_hash(t->row[i].name) & (cap - 1); idx[j];
             j = (j + 1) & (cap - 1)) {
        }
        idx[j] = i + 1;
    }
    free(t->index);
    t->index = idx;
    t->index_cap = cap;
    return 0;
}


static cg_report_row_t *
cg_report_row(cg_report_table_t *t, const char *name)
{
    cg_report_row_t *row;
    size_t           j;

    if ((t->n + 1) * 2 > t->index_cap && cg_report_reindex(t) != 0) {
        return NULL;
    }
    for (j = cg_report_hash(name) & (t->index_cap - 1); t->index[j];
         j = (j + 1) & (t->index_cap - 1)) {
        if (strcmp(t->row[t->index[j] - 1].name, name) == 0) {
            return &t->row[t->index[j] - 1];
        }
    }
    if (t->n == t->cap) {
        row = realloc(t->row, (t->cap ? t->cap * 2 : 32) * sizeof(*row));
        if (row == NULL) {
            return NULL;
        }
        t->row = row;
        t->cap = t->cap ? t->cap * 2 : 32;
    }
    row = &t->row[t->n];
    memset(row, 0, sizeof(*row));
    if ((row->name = strdup(name)) == NULL) {
        return NULL;
    }
    t->index[j] = ++t->n;
    return row;
}


static const char *
cg_report_str(json_object *o, const char *key, const char *dflt)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v,
                                                        json_type_string)) {
        return json_object_get_string(v);
    }
    return dflt;
}


static int64_t
cg_report_int(json_object *o, const char *key, int64_t dflt)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v,
                                                           json_type_int)) {
        return json_object_get_int64(v);
    }
    return dflt;
}


static int
cg_report_in_range(const cg_report_t *rp, const char *ts)
{
    return (rp->since == NULL || strncmp(ts, rp->since,
                                         strlen(rp->since)) >= 0)
           && (rp->until == NULL || strncmp(ts, rp->until,
                                            strlen(rp->until)) <= 0);
}


static void
cg_report_add(cg_report_row_t *row, const cg_report_row_t *one)
{
    row->requests += one->requests;
    row->errors += one->errors;
    row->input_tokens += one->input_tokens;
    row->output_tokens += one->output_tokens;
    row->cost += one->cost;
}


/* The group a line belongs to, written into buf. */
static const char *
cg_report_group(const cg_report_t *rp, json_object *o, const char *ts,
                char *buf, size_t cap)
{
    switch (rp->by) {
    case CG_REPORT_BY_DAY:
        snprintf(buf, cap, "%.10s", ts);
        return buf;
    case CG_REPORT_BY_ROUTE:
        return cg_report_str(o, "route", "-");
    case CG_REPORT_BY_KEY:
        return cg_report_str(o, "key_id", "-");
    default:
        return cg_report_str(o, "user", "-");
    }
}


static int
cg_report_count(cg_report_t *rp, json_object *o, const char *ts)
{
    const cg_price_t *p;
    cg_report_row_t   one, *g, *u;
    int64_t           cost;
    char              day[16];

    memset(&one, 0, sizeof(one));
    one.requests = 1;
    one.errors = cg_report_int(o, "status", 0) != 200;
    one.input_tokens = (uint64_t) cg_report_int(o, "input_tokens", 0);
    one.output_tokens = (uint64_t) cg_report_int(o, "output_tokens", 0);
    cost = cg_report_int(o, "cost_micro_usd", -1);
    if (cost < 0) {
        p = cg_budget_price_find(rp->prices, rp->nprices,
                                 cg_report_str(o, "model", NULL));
        cost = p ? (int64_t) cg_budget_price_cost(p, (long) one.input_tokens,
                                                  (long) one.output_tokens,
                                                  0, 0)
                 : 0;
    }
    one.cost = (uint64_t) cost;
    g = cg_report_row(&rp->groups, cg_report_group(rp, o, ts, day,
                                                   sizeof(day)));
    u = cg_report_row(&rp->users, cg_report_str(o, "user", "-"));
    if (g == NULL || u == NULL) {
        rp->oom = 1;
        return -1;
    }
    cg_report_add(g, &one);
    cg_report_add(u, &one);
    cg_report_add(&rp->total, &one);
    return 0;
}


/* One JSON object filling the whole line: anything after it (another
 * line glued on) makes the line bad, so it is never read as one good
 * line that hides the other. */
static json_object *
cg_report_parse(const char *line, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object  *o;
    size_t        used;

    if (tok == NULL) {
        return NULL;
    }
    o = json_tokener_parse_ex(tok, line, (int) len);
    used = (size_t) json_tokener_get_parse_end(tok);
    while (o && used < len && (line[used] == ' ' || line[used] == '\t')) {
        used++;
    }
    if (o && used != len) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}


int
cg_report_line(cg_report_t *rp, const char *line, size_t len)
{
    json_object *o;
    const char  *event, *ts;
    int          rc = 1;

    o = cg_report_parse(line, len);
    if (o == NULL || !json_object_is_type(o, json_type_object)
        || (ts = cg_report_str(o, "ts", NULL)) == NULL
        || (event = cg_report_str(o, "event", NULL)) == NULL) {
        json_object_put(o);
        rp->bad++;
        return -1;
    }
    if (cg_report_in_range(rp, ts)) {
        if (strcmp(event, "alert") == 0) {
            rp->alerts++;
        } else if (strcmp(event, "request") == 0) {
            rc = cg_report_count(rp, o, ts);
        }
    }
    json_object_put(o);
    return rc;
}


static int
cg_report_by_name(const void *a, const void *b)
{
    return strcmp(((const cg_report_row_t *) a)->name,
                  ((const cg_report_row_t *) b)->name);
}


static int
cg_report_by_cost(const void *a, const void *b)
{
    const cg_report_row_t *x = a, *y = b;

    if (x->cost != y->cost) {
        return x->cost < y->cost ? 1 : -1;
    }
    if (x->requests != y->requests) {
        return x->requests < y->requests ? 1 : -1;
    }
    return strcmp(x->name, y->name);
}


/* Sorting moves rows, so the name index is dropped: no more lines. */
void
cg_report_sort(cg_report_t *rp)
{
    if (rp->groups.n) {
        qsort(rp->groups.row, rp->groups.n, sizeof(cg_report_row_t),
              cg_report_by_name);
    }
    if (rp->users.n) {
        qsort(rp->users.row, rp->users.n, sizeof(cg_report_row_t),
              cg_report_by_cost);
    }
    free(rp->groups.index);
    free(rp->users.index);
    rp->groups.index = rp->users.index = NULL;
    rp->groups.index_cap = rp->users.index_cap = 0;
}


static const char *const cg_report_by_names[] = {
    "user", "day", "route", "key"
};


static void
cg_report_money(cg_buf_t *b, uint64_t micro)
{
    cg_buf_addf(b, "%llu.%06llu", (unsigned long long) (micro / 1000000),
                (unsigned long long) (micro % 1000000));
}


static void
cg_report_text_row(cg_buf_t *b, const cg_report_row_t *r)
{
    cg_buf_addf(b, "%-32s %9llu %7llu %12llu %12llu ",
                r->name ? r->name : "TOTAL",
                (unsigned long long) r->requests,
                (unsigned long long) r->errors,
                (unsigned long long) r->input_tokens,
                (unsigned long long) r->output_tokens);
    cg_report_money(b, r->cost);
    cg_buf_addc(b, '\n');
}


static void
cg_report_text(const cg_report_t *rp, size_t top, cg_buf_t *b)
{
    static const char head[] = "%-32s %9s %7s %12s %12s %s\n";
    size_t            i;

    cg_buf_addf(b, head, cg_report_by_names[rp->by], "requests", "errors",
                "input_tok", "output_tok", "spend_usd");
    for (i = 0; i < rp->groups.n; i++) {
        cg_report_text_row(b, &rp->groups.row[i]);
    }
    cg_report_text_row(b, &rp->total);
    cg_buf_addf(b, "\ntop users by spend\n");
    cg_buf_addf(b, head, "user", "requests", "errors", "input_tok",
                "output_tok", "spend_usd");
    for (i = 0; i < rp->users.n && i < top; i++) {
        cg_report_text_row(b, &rp->users.row[i]);
    }
    cg_buf_addf(b, "\nalerts: %llu, unreadable lines: %llu\n",
                (unsigned long long) rp->alerts,
                (unsigned long long) rp->bad);
}


static void
cg_report_csv(const cg_report_t *rp, cg_buf_t *b)
{
    const cg_report_row_t *r;
    size_t                 i;

    cg_buf_addf(b, "%s,requests,errors,input_tokens,output_tokens,"
                "cost_micro_usd\n", cg_report_by_names[rp->by]);
    for (i = 0; i <= rp->groups.n; i++) {
        r = i < rp->groups.n ? &rp->groups.row[i] : &rp->total;
        /* Names come from the log: quote them, doubling quotes. */
        cg_buf_addc(b, '"');
        for (const char *p = r->name ? r->name : "TOTAL"; *p; p++) {
            if (*p == '"') {
                cg_buf_addc(b, '"');
            }
            cg_buf_addc(b, *p);
        }
        cg_buf_addf(b, "\",%llu,%llu,%llu,%llu,%llu\n",
                    (unsigned long long) r->requests,
                    (unsigned long long) r->errors,
                    (unsigned long long) r->input_tokens,
                    (unsigned long long) r->output_tokens,
                    (unsigned long long) r->cost);
    }
}


static void
cg_report_json_row(cg_buf_t *b, const cg_report_row_t *r)
{
    cg_buf_adds(b, "{\"name\":");
    cg_buf_add_json_cstr(b, r->name);
    cg_buf_addf(b, ",\"requests\":%llu,\"errors\":%llu,\"input_tokens\":%llu,"
                "\"output_tokens\":%llu,\"cost_micro_usd\":%llu}",
                (unsigned long long) r->requests,
                (unsigned long long) r->errors,
                (unsigned long long) r->input_tokens,
                (unsigned long long) r->output_tokens,
                (unsigned long long) r->cost);
}


static void
cg_report_json(const cg_report_t *rp, size_t top, cg_buf_t *b)
{
    size_t i;

    cg_buf_addf(b, "{\"by\":\"%s\",\"groups\":[", cg_report_by_names[rp->by]);
    for (i = 0; i < rp->groups.n; i++) {
        cg_buf_adds(b, i ? "," : "");
        cg_report_json_row(b, &rp->groups.row[i]);
    }
    cg_buf_adds(b, "],\"total\":");
    cg_report_json_row(b, &rp->total);
    cg_buf_adds(b, ",\"top_users\":[");
    for (i = 0; i < rp->users.n && i < top; i++) {
        cg_buf_adds(b, i ? "," : "");
        cg_report_json_row(b, &rp->users.row[i]);
    }
    cg_buf_addf(b, "],\"alerts\":%llu,\"bad_lines\":%llu}\n",
                (unsigned long long) rp->alerts,
                (unsigned long long) rp->bad);
}


void
cg_report_format(const cg_report_t *rp, cg_report_fmt_t fmt, size_t top,
                 cg_buf_t *out)
{
    if (fmt == CG_REPORT_JSON) {
        cg_report_json(rp, top, out);
    } else if (fmt == CG_REPORT_CSV) {
        cg_report_csv(rp, out);
    } else {
        cg_report_text(rp, top, out);
    }
}
