/*
 * clock: every clock chatgate reads. Monotonic seconds for durations and
 * timeouts (never jumps with NTP); wall-clock seconds for timestamps,
 * periods (a budget's day, an alert's hour), expiry and key ages. Code in
 * lib/ and app/ reads time only through here (never time(),
 * clock_gettime() or gettimeofday() itself), so that a unit test can move
 * the wall clock with cg_clock_test_offset(). It must never read anything
 * but the system clocks and that offset.
 */
#ifndef CG_CLOCK_H
#define CG_CLOCK_H

#include <time.h>

/* Durations in seconds, for periods, windows and TTLs (a UTC day has
 * no leap second in Unix time). */
#define CG_MINUTE_S  60
#define CG_HOUR_S    (60 * CG_MINUTE_S)
#define CG_DAY_S     (24 * CG_HOUR_S)
#define CG_YEAR_S    (365 * CG_DAY_S)

/* Monotonic seconds: only differences mean anything. */
double cg_clock_mono(void);
/* Wall-clock seconds since the epoch, with the fraction. */
double cg_clock_wall(void);
/* Wall-clock whole seconds: what time(NULL) gives. */
time_t cg_clock_now(void);
/* Tests only, before any thread: moves the wall clock (not the monotonic
 * one) by seconds; 0 puts it back. */
void   cg_clock_test_offset(double seconds);

#endif
