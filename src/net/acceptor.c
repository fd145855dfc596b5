/* The accept loop shared by the WebSocket and HTTP-01 listeners (listener.h). */
#include "net/listener.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/clock.h"
#include "lib/log.h"

#define ACCEPTS_PER_EVENT 64
#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 1000
#define LOG_PERIOD_MS 10000

struct sf_net_acceptor {
	int fd;
	struct event *ev;		/* the listening socket is readable */
	struct event *retry;		/* end of a back-off */
	sf_net_accept_fn on_accept;
	void *arg;
	unsigned backoff_ms;		/* 0 while accepting works */
	uint64_t last_log_ms;
	bool logged;
};

static bool out_of_resources(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void back_off(struct sf_net_acceptor *a, int e)
{
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (a->backoff_ms > BACKOFF_MAX_MS)
		a->backoff_ms = BACKOFF_MAX_MS;
	uint64_t now = sf_clock_ms();
	if (!a->logged || now - a->last_log_ms >= LOG_PERIOD_MS) {
		sf_logf("accept: %s; retrying in %u ms", strerror(e), a->backoff_ms);
		a->last_log_ms = now;
		a->logged = true;
	}
	event_del(a->ev);
	struct timeval tv = { 0, (suseconds_t)a->backoff_ms * 1000 };
	if (a->backoff_ms >= 1000)
		tv = (struct timeval){ (time_t)(a->backoff_ms / 1000), 0 };
	evtimer_add(a->retry, &tv);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct sf_net_acceptor *a = arg;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (out_of_resources(errno))
				back_off(a, errno);
			/* EAGAIN: drained; ECONNABORTED and the like: the next wake-up tries again. */
			return;
		}
		a->backoff_ms = 0;
		a->on_accept(a->arg, cfd);
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sf_net_acceptor *a = arg;
	event_add(a->ev, NULL);
}

struct sf_net_acceptor *sf_net_acceptor_new(struct event_base *base, int listen_fd,
					    sf_net_accept_fn on_accept, void *arg)
{
	struct sf_net_acceptor *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->fd = listen_fd;
	a->on_accept = on_accept;
	a->arg = arg;
	a->ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_readable, a);
	a->retry = evtimer_new(base, on_retry, a);
	if (!a->ev || !a->retry || event_add(a->ev, NULL) < 0) {
		sf_net_acceptor_free(a);
		return NULL;
	}
	return a;
}

void sf_net_acceptor_free(struct sf_net_acceptor *a)
{
	if (!a)
		return;
	if (a->ev)
		event_free(a->ev);
	if (a->retry)
		event_free(a->retry);
	free(a);
}
