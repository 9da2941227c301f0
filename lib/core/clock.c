#include "core/clock.h"

#include <time.h>


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
    return cg_clock_read(CLOCK_REALTIME);
}
