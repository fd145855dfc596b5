/* The metrics HTTP endpoint (endpoint.h): read one request head, answer, close. */
#include "metrics/endpoint.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"

#define DRAIN_MAX 65536

struct mconn {
	struct mconn *prev, *next;
	struct sf_metrics_endpoint *ep;
	int fd;
	struct event *ev;		/* readable while reading the request, then writable */
	struct event *deadline;
	char in[SF_METRICS_REQUEST_MAX];
	size_t in_len;
	char *out;			/* the whole answer, head and body */
	size_t out_len, out_off;
};

struct sf_metrics_endpoint {
	struct event_base *base;
	int listen_fd;
	struct sf_net_acceptor *acceptor;
	sf_metrics_render_fn render;
	void *arg;
	struct mconn *conns;
	unsigned nconns;
};

static void conn_free(struct mconn *c)
{
	struct sf_metrics_endpoint *ep = c->ep;
	if (c->prev)
		c->prev->next = c->next;
	else
		ep->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ep->nconns--;
	if (c->ev)
		event_free(c->ev);
	if (c->deadline)
		event_free(c->deadline);
	close(c->fd);
	free(c->out);
	free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

/* Sends what the socket takes; frees c once everything is out or the peer is gone. */
static void send_some(struct mconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			event_add(c->ev, NULL);
			return;
		}
		break; /* the peer is gone */
	}
	if (c->out_off == c->out_len) {
		/* Unread request bytes would make close() send a reset that may destroy the
		 * answer in flight: read them (a bounded amount) first. */
		char sink[4096];
		for (size_t drained = 0; drained < DRAIN_MAX;) {
			ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
			if (n <= 0)
				break;
			drained += (size_t)n;
		}
		shutdown(c->fd, SHUT_WR);
	}
	conn_free(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_some(arg);
}

/* Builds the answer of status with body (NULL: a one-line text body of the status's reason). */
static void answer(struct mconn *c, const char *status, const char *ctype, const char *body,
		   size_t body_len)
{
	char head[256];
	int hn = snprintf(head, sizeof head,
			  "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n", status, ctype, body_len);
	c->out = malloc((size_t)hn + body_len);
	if (!c->out) {
		conn_free(c);
		return;
	}
	memcpy(c->out, head, (size_t)hn);
	memcpy(c->out + hn, body, body_len);
	c->out_len = (size_t)hn + body_len;
	event_free(c->ev);
	c->ev = event_new(c->ep->base, c->fd, EV_WRITE, on_writable, c);
	if (!c->ev) {
		conn_free(c);
		return;
	}
	send_some(c);
}

static void answer_text(struct mconn *c, const char *status, const char *text)
{
	answer(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* "GET /metrics HTTP/1.x" or with a query string: the only request served. */
static bool is_metrics_request(const char *line, size_t len)
{
	static const char get[] = "GET /metrics";
	size_t n = sizeof get - 1;
	if (len < n + 1 || memcmp(line, get, n) != 0)
		return false;
	if (line[n] == '?') {
		while (n < len && line[n] != ' ')
			n++;
	}
	static const char proto[] = " HTTP/1.";
	return len >= n + sizeof proto && memcmp(line + n, proto, sizeof proto - 1) == 0;
}

static void serve(struct mconn *c)
{
	const char *eol = memchr(c->in, '\n', c->in_len);
	size_t line_len = (size_t)(eol - c->in);
	if (line_len > 0 && c->in[line_len - 1] == '\r')
		line_len--;
	if (!is_metrics_request(c->in, line_len)) {
		answer_text(c, "404 Not Found", "404 page not found\n");
		return;
	}
	struct sf_expo page;
	sf_expo_init(&page);
	c->ep->render(c->ep->arg, &page);
	if (page.failed) {
		sf_expo_free(&page);
		answer_text(c, "500 Internal Server Error", "out of memory\n");
		return;
	}
	answer(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", page.buf ? page.buf : "",
	       page.len);
	sf_expo_free(&page);
}

static bool head_complete(const struct mconn *c)
{
	for (size_t i = 1; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		if (c->in[i - 1] == '\n' || (i >= 3 && memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0))
			return true;
	}
	return false;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct mconn *c = arg;
	ssize_t n = recv(fd, c->in + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->in_len += (size_t)n;
	if (head_complete(c))
		serve(c);
	else if (c->in_len == sizeof c->in)
		answer_text(c, "431 Request Header Fields Too Large", "request too large\n");
}

static void on_accept(void *arg, int fd)
{
	struct sf_metrics_endpoint *ep = arg;
	if (ep->nconns >= SF_METRICS_MAX_CONNS) {
		close(fd); /* the scraper retries at its next interval */
		return;
	}
	struct mconn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->ep = ep;
	c->fd = fd;
	c->next = ep->conns;
	if (c->next)
		c->next->prev = c;
	ep->conns = c;
	ep->nconns++;
	c->ev = event_new(ep->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->deadline = evtimer_new(ep->base, on_deadline, c);
	struct timeval tv = { SF_METRICS_DEADLINE_MS / 1000, (SF_METRICS_DEADLINE_MS % 1000) * 1000 };
	if (!c->ev || !c->deadline || event_add(c->ev, NULL) < 0 || evtimer_add(c->deadline, &tv) < 0)
		conn_free(c);
}

struct sf_metrics_endpoint *sf_metrics_endpoint_new(struct event_base *base, int listen_fd,
						    sf_metrics_render_fn render, void *arg)
{
	struct sf_metrics_endpoint *ep = calloc(1, sizeof *ep);
	if (!ep)
		return NULL;
	ep->base = base;
	ep->render = render;
	ep->arg = arg;
	ep->acceptor = sf_net_acceptor_new(base, listen_fd, on_accept, ep);
	if (!ep->acceptor) {
		free(ep);
		return NULL;
	}
	ep->listen_fd = listen_fd;
	return ep;
}

void sf_metrics_endpoint_free(struct sf_metrics_endpoint *ep)
{
	if (!ep)
		return;
	sf_net_acceptor_free(ep->acceptor);
	close(ep->listen_fd);
	while (ep->conns)
		conn_free(ep->conns);
	free(ep);
}

unsigned sf_metrics_endpoint_conns(const struct sf_metrics_endpoint *ep)
{
	return ep->nconns;
}
