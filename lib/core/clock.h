/*
 * clock: the two clocks a request needs. Monotonic seconds for durations
 * (never jumps with NTP), wall-clock seconds for timestamps in logs.
 */
#ifndef CG_CLOCK_H
#define CG_CLOCK_H

double cg_clock_mono(void);
double cg_clock_wall(void);

#endif
