/*
 * num: numbers read from text chatgate does not control (header values
 * such as a provider's Retry-After), with clamped arithmetic.
 *
 * A header can say 99999999999999999999: strtol() saturates, and the next
 * multiply overflows a signed long (undefined behaviour). Everything here
 * saturates at a caller's bound instead, so what comes out can be scaled
 * safely (a bound of a day in seconds times 1000 fits any long). It never allocates and knows nothing of HTTP.
 */
#ifndef CG_NUM_H
#define CG_NUM_H

#include <stddef.h>

/* The decimal number in s[0..n) (optional leading and trailing spaces or tabs,
 * then digits only), clamped to [0, max]; -1 when s holds no such number
 * (empty, signed, "1.5", an HTTP-date). */
long cg_num_parse(const char *s, size_t n, long max);

#endif
