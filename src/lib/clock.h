/* Monotonic clock in milliseconds, the time base of every protocol timer (KCP, smux, deadlines). */
#ifndef SF_LIB_CLOCK_H
#define SF_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sf_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
