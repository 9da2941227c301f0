#include "core/clock.h"

/* Set by unit tests only, before any thread runs: a plain read. */
static double cg_clock_offset;


static double
cg_clock_read(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


double
cg_clock_mono(void)
{
    return cg_clock_read(CLOCK_MONOTONIC);
}


double
cg_clock_wall(void)
{
    return cg_clock_read(CLOCK_REALTIME) + cg_clock_offset;
}


time_t
cg_clock_now(void)
{
    return (time_t) cg_clock_wall();
}


void
cg_clock_test_offset(double seconds)
{
    cg_clock_offset = seconds;
}
