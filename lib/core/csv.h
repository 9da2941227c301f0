/*
 * csv: the comma-separated lists of the config, such as "a, b,c", walked without
 * copying. Items are trimmed of spaces and tabs; empty items are skipped.
 * Matching is exact and byte-wise: no case folding, no prefixes.
 */
#ifndef CG_CSV_H
#define CG_CSV_H

#include <stddef.h>

/* Moves *p past the next item, setting *item and *len to it; 0 at the end. */
int cg_csv_next(const char **p, const char **item, size_t *len);
/* 1 if list has an item equal to s[0..n). */
int cg_csv_has(const char *list, const char *s, size_t n);

#endif
