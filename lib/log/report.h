/*
 * report: aggregation of usage log lines for `chatgate report`.
 *
 * Feed it lines (cg_report_line), then sort and format. Each request line
 * is counted in its group (user, day, route or key) and in the per-user
 * table that gives the top users; spend is the line's cost_micro_usd, or
 * computed from the price table when an older line lacks it. Alert events
 * are counted apart, lines that are not JSON are counted as bad and
 * skipped. Money stays integer micro-dollars throughout. This module
 * reads no files and prints nothing itself.
 */
#ifndef CG_REPORT_H
#define CG_REPORT_H

#include <stdint.h>
#include "meter/budget.h"
#include "core/buf.h"

typedef enum {
    CG_REPORT_BY_USER = 0,
    CG_REPORT_BY_DAY,
    CG_REPORT_BY_ROUTE,
    CG_REPORT_BY_KEY
} cg_report_by_t;

typedef enum {
    CG_REPORT_TEXT = 0,
    CG_REPORT_JSON,
    CG_REPORT_CSV
} cg_report_fmt_t;

typedef struct {
    char       *name;
    uint64_t    requests;
    uint64_t    errors;
    uint64_t    input_tokens;
    uint64_t    output_tokens;
    uint64_t    cost;           /* micro-dollars */
} cg_report_row_t;

typedef struct {
    cg_report_row_t *row;
    size_t           n, cap;
    size_t          *index;     /* open addressing over row[], 0: empty */
    size_t           index_cap;
} cg_report_table_t;

typedef struct {
    cg_report_by_t     by;
    const char        *since;   /* ts prefix, inclusive; NULL: none */
    const char        *until;   /* ts prefix, inclusive; NULL: none */
    const cg_price_t  *prices;
    size_t             nprices;
    cg_report_table_t  groups;
    cg_report_table_t  users;
    cg_report_row_t    total;
    uint64_t           alerts;
    uint64_t           bad;
    int                oom;
} cg_report_t;

void cg_report_init(cg_report_t *rp);
void cg_report_free(cg_report_t *rp);
/* Counts one line; returns 0 counted, 1 skipped (filtered or not a
 * request), -1 not a usage line. */
int  cg_report_line(cg_report_t *rp, const char *line, size_t len);
/* Groups by name; users by spend, largest first. */
void cg_report_sort(cg_report_t *rp);
void cg_report_format(const cg_report_t *rp, cg_report_fmt_t fmt,
                      size_t top, cg_buf_t *out);

#endif
