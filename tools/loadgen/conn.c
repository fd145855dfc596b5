/* One TCP (or TLS) connection per session: dial from one of the source addresses, the WebSocket
 * upgrade request, then the bytes to and from the protocol stack. */
#include "lg.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* RFC 6455's sample key and its accept value: the key carries no secret, any fixed one works. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define UPGRADE_MAX 8192	/* a longer response head is not a snowflake server's */

int lg_conn_ssl_init(struct lg *lg)
{
	if (!lg->o.tls)
		return 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -1;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* an idle session should not keep 2 × 16 KiB of record buffers: the load generator's
	 * memory, not the server's, would limit the number of sessions */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (lg->o.ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, lg->o.ca_file, NULL) != 1) {
			fprintf(stderr, "loadgen: cannot load CA file %s\n", lg->o.ca_file);
			SSL_CTX_free(ctx);
			return -1;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	lg->ssl = ctx;
	return 0;
}

static void send_upgrade(struct lg_session *s)
{
	char req[1024];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 s->lg->o.path, s->lg->o.host);
	bufferevent_write(s->bev, req, (size_t)n);
}

/* The response head, once complete: 101 and the right accept value. 1 done, 0 need more, -1 bad. */
static int read_upgrade(struct lg_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		return evbuffer_get_length(in) > UPGRADE_MAX ? -1 : 0;
	size_t len = (size_t)end.pos + 4;
	if (len > UPGRADE_MAX)
		return -1;
	char head[UPGRADE_MAX + 1];
	evbuffer_remove(in, head, len);
	head[len] = 0;
	if (strncmp(head, "HTTP/1.1 101 ", 13) != 0 || !strcasestr(head, "\r\nSec-WebSocket-Accept: " WS_ACCEPT "\r\n"))
		return -1;
	return 1;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct lg_session *s = arg;
	struct lg *lg = s->lg;
	if (s->state == LG_S_UPGRADING) {
		int r = read_upgrade(s);
		if (r < 0) {
			lg_session_fail(s, &lg->c.err_upgrade);
			return;
		}
		if (r == 0)
			return;
		s->state = LG_S_OPEN;
		s->t_ws_up = lg_now_us();
		lg_sample(&lg->ws_connect, s->t_ws_up - s->t_start);
		if (lg_stack_open(s) < 0)
			return;
	}
	if (s->state != LG_S_OPEN)
		return;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[16];
	size_t total = evbuffer_get_length(in);
	while (total > 0 && s->state == LG_S_OPEN) {
		int nv = evbuffer_peek(in, -1, NULL, v, 16);
		if (nv > 16)
			nv = 16;
		size_t used = 0;
		for (int i = 0; i < nv && s->state == LG_S_OPEN; i++) {
			lg_stack_input(s, v[i].iov_base, v[i].iov_len);
			used += v[i].iov_len;
		}
		if (s->state != LG_S_OPEN)
			return;	/* the session ended; the buffer went with it */
		evbuffer_drain(in, used);
		total -= used < total ? used : total;
	}
	lg_stack_pump(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct lg_session *s = arg;
	struct lg *lg = s->lg;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == LG_S_DIALING) {
			s->state = LG_S_UPGRADING;
			send_upgrade(s);
		}
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (s->state == LG_S_DIALING)
			lg_session_fail(s, &lg->c.err_dial);
		else if (s->state == LG_S_UPGRADING)
			lg_session_fail(s, &lg->c.err_upgrade);
		else if (s->state == LG_S_OPEN)
			lg_session_fail(s, &lg->c.err_eof);
	}
}

void lg_conn_start(struct lg_session *s)
{
	struct lg *lg = s->lg;
	s->t_start = lg_now_us();
	s->state = LG_S_DIALING;
	int fd = socket(lg->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		lg_session_fail(s, &lg->c.err_dial);
		return;
	}
	/* Go's net package sets TCP_NODELAY on every TCP connection, the Snowflake client's too;
	 * without it Nagle holds a small write (an ACK) behind the peer's delayed ACK: +40 ms */
	int nodelay = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
	if (lg->o.nsources && lg->dst.ss_family == AF_INET) {
		/* the port is picked at connect time, per destination: 64k sessions per source */
		int one = 1;
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr = lg->o.sources[s->idx % lg->o.nsources] };
		if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
			close(fd);
			lg_session_fail(s, &lg->c.err_dial);
			return;
		}
	}
	int opts = BEV_OPT_CLOSE_ON_FREE;
	if (lg->ssl) {
		SSL *ssl = SSL_new(lg->ssl);
		if (!ssl) {
			close(fd);
			lg_session_fail(s, &lg->c.err_alloc);
			return;
		}
		SSL_set_tlsext_host_name(ssl, lg->o.host);
		if (lg->o.ca_file)
			SSL_set1_host(ssl, lg->o.host);
		s->bev = bufferevent_openssl_socket_new(lg->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
							opts);
		if (s->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else
			SSL_free(ssl);
	} else {
		s->bev = bufferevent_socket_new(lg->base, fd, opts);
	}
	if (!s->bev) {
		close(fd);
		lg_session_fail(s, &lg->c.err_alloc);
		return;
	}
	lg->c.fds_open++;
	if (lg->c.fds_open > lg->c.fds_max)
		lg->c.fds_max = lg->c.fds_open;
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&lg->dst, (int)lg->dst_len) < 0)
		lg_session_fail(s, &lg->c.err_dial);
}

void lg_conn_write(struct lg_session *s, const uint8_t *p, size_t n)
{
	if (s->bev)
		bufferevent_write(s->bev, p, n);
}

void lg_conn_close(struct lg_session *s)
{
	if (!s->bev)
		return;
	bufferevent_free(s->bev);
	s->bev = NULL;
	s->lg->c.fds_open--;
}
