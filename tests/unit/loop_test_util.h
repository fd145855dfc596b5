/* An event loop for tests that always returns: a 10 ms ticker keeps event_base_loop(EVLOOP_ONCE)
 * from blocking for ever, so TEST_RUN_UNTIL can bound every wait by a number of rounds
 * (header-only: each test is its own program; include it after cmocka.h). */
#ifndef SF_LOOP_TEST_UTIL_H
#define SF_LOOP_TEST_UTIL_H

#include <event2/event.h>
#include <stdlib.h>

#define TEST_LOOP_TICK_US 10000
#define TEST_LOOP_MAX_ROUNDS 3000 /* x 10 ms ticks at most: 30 s */

struct test_loop {
	struct event_base *base;
	struct event *ticker;
};

static inline void test_loop_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static inline void test_loop_init(struct test_loop *l)
{
	l->base = event_base_new();
	if (!l->base)
		abort();
	l->ticker = event_new(l->base, -1, EV_PERSIST, test_loop_tick, NULL);
	if (!l->ticker)
		abort();
	struct timeval tv = { .tv_usec = TEST_LOOP_TICK_US };
	event_add(l->ticker, &tv);
}

static inline void test_loop_free(struct test_loop *l)
{
	event_free(l->ticker);
	event_base_free(l->base);
}

/* Runs l until cond holds, at most TEST_LOOP_MAX_ROUNDS rounds; then asserts cond. */
#define TEST_RUN_UNTIL(l, cond)                                                            \
	do {                                                                               \
		for (int round_ = 0; round_ < TEST_LOOP_MAX_ROUNDS && !(cond); round_++)   \
			event_base_loop((l)->base, EVLOOP_ONCE);                           \
		assert_true(cond);                                                         \
	} while (0)

#endif
