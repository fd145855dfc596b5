/* Handshakes waiting for a certificate. The store says "pending"; the handshake queues itself
 * here with an eventfd watched by its own event loop; sf_tls_resume(), from any thread, writes
 * to the eventfds of the handshakes waiting for that name. A write to an eventfd is the whole
 * cross-thread signal: no event loop is touched from another thread. */
#include "tls/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void wake(struct sf_tls_waiter *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->wake_fd, &one, sizeof one);
	(void)n;	/* EAGAIN: the counter is already non-zero, which is all that matters */
}

static void unlink_waiter(struct sf_tls_ctx *ctx, struct sf_tls_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		ctx->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->linked = false;
	ctx->n_waiters--;
}

int sf_tls_wait(struct sf_tls_ctx *ctx, struct sf_tls_waiter *w, const char *name, uint64_t gen)
{
	if (w->wake_fd < 0 && (w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -1;
	int rc = 0;
	pthread_mutex_lock(&ctx->wait_lock);
	if (atomic_load(&ctx->wake_gen) != gen) {
		wake(w);
	} else if (ctx->n_waiters >= SF_TLS_MAX_WAITING) {
		rc = -1;
	} else if (!w->linked) {
		snprintf(w->name, sizeof w->name, "%s", name);
		w->next = ctx->waiters;
		w->prev = NULL;
		if (ctx->waiters)
			ctx->waiters->prev = w;
		ctx->waiters = w;
		w->linked = true;
		ctx->n_waiters++;
	}
	pthread_mutex_unlock(&ctx->wait_lock);
	return rc;
}

void sf_tls_wait_done(struct sf_tls_ctx *ctx, struct sf_tls_waiter *w)
{
	pthread_mutex_lock(&ctx->wait_lock);
	if (w->linked)
		unlink_waiter(ctx, w);
	pthread_mutex_unlock(&ctx->wait_lock);
	if (w->wake_fd >= 0) {
		close(w->wake_fd);
		w->wake_fd = -1;
	}
}

void sf_tls_resume(struct sf_tls_ctx *ctx, const char *name)
{
	char host[SF_TLS_NAME_BUF];
	if (name) {
		/* a name that does not normalise wakes nobody in particular: compared as given */
		if (!sf_hostname_normalize(name, host, sizeof host, false, NULL, 0))
			name = host;
	}
	pthread_mutex_lock(&ctx->wait_lock);
	atomic_fetch_add(&ctx->wake_gen, 1);
	struct sf_tls_waiter *w = ctx->waiters;
	while (w) {
		struct sf_tls_waiter *next = w->next;
		if (!name || strcmp(w->name, name) == 0) {
			wake(w);
			unlink_waiter(ctx, w);
		}
		w = next;
	}
	pthread_mutex_unlock(&ctx->wait_lock);
}
