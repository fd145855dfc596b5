/* A shard (src/shard) driven alone, without the front or a listener: WebSockets arrive as
 * hand-overs of socket pairs, the test plays the client with hand-made KCP segments, and reads
 * what the shard writes back. It checks that
 *  - a KCP session outlives its WebSocket: the same ClientID on a new WebSocket continues the
 *    same session (the ACK's una counts the segment sent over the first one);
 *  - a WebSocket closed while its hand-over is being adopted (a malformed packet in the bytes
 *    that came with the preamble) goes alone: the client's other WebSocket carries on;
 *  - stopping the shard with live WebSockets sends each a Close frame and closes it, and so
 *    does stopping it with WebSockets still in its inbox;
 *  - a WebSocket refused (the shard full) gets a Close 1013 (Try Again Later);
 *  - the shard's thread is named sf-shard-<index>;
 *  - a client that vanishes without a close (its WebSocket silent, never closed) loses its
 *    session, its stream's tor connection and then its WebSocket, while a client that keeps
 *    talking keeps all three (the idle periods shortened through sf_shard_params);
 *  - sessions that fill the thread's KCP budget with undeliverable data and then fall silent
 *    are still swept: the biggest stalled one is closed without any further input.
 * tor is a listening socket of the test (plain ORPort). Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kcp/codec.h"
#include "kcp/kcp.h"
#include "lib/clock.h"
#include "shard/shard.h"
#include "turbotunnel/encap.h"

#include "shard_test_util.h"

#define CONV 0x5eed1234u
#define WAIT_MS 3000

static struct sf_tor_target tor_target; /* 127.0.0.1:port */

/* idle_ms: both idle periods (0: upstream's); tor_port: the ORPort (9 when never dialled);
 * max_clients: the clients the shard holds. */
static struct sf_shard *start_shard_with(uint16_t tor_port, uint64_t idle_ms, uint32_t max_clients)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&tor_target.orport;
	memset(&tor_target, 0, sizeof tor_target);
	tor_target.has_orport = true;
	a->sin_family = AF_INET;
	a->sin_port = htons(tor_port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tor_target.orport_len = sizeof *a;
	struct sf_shard_params p = {
		.tor = &tor_target,
		.clientmap_capacity = 64,
		.max_clients = max_clients,
		.session_idle_ms = idle_ms,
		.record_idle_ms = idle_ms,
	};
	char err[256] = "";
	struct sf_shard *sh = sf_shard_start(&p, 0, err, sizeof err);
	if (!sh)
		fail_msg("sf_shard_start: %s", err);
	return sh;
}

static struct sf_shard *start_shard(void)
{
	return start_shard_with(9, 0, 64);
}

/* ---- the client's packets ---- */

#define SMUX_SYN 0
#define SMUX_NOP 3

/* One KCP PUSH of conv CONV at sn carrying data (at most an MSS), encapsulated (length
 * prefix). Returns the encoded length. */
static size_t encap_kcp_push(uint32_t sn, const uint8_t *data, uint32_t len, uint8_t *out,
			     size_t cap)
{
	static uint8_t pkt[24 + SF_KCP_MSS];
	assert_true(len <= SF_KCP_MSS);
	struct sf_kcp_hdr h = { .conv = CONV, .cmd = SF_KCP_CMD_PUSH, .wnd = 128, .ts = 1000 + sn,
				.sn = sn, .una = 0, .len = len };
	sf_kcp_hdr_encode(pkt, &h);
	memcpy(pkt + 24, data, len);
	size_t n = sf_tt_encode_packet(pkt, 24 + len, out, cap);
	assert_true(n > 0);
	return n;
}

/* A PUSH carrying one empty smux v2 frame (ver 2, cmd, len 0, sid little endian). */
static size_t encap_smux(uint32_t sn, uint8_t cmd, uint32_t sid, uint8_t *out, size_t cap)
{
	const uint8_t frame[8] = { 2, cmd, 0, 0, (uint8_t)sid, (uint8_t)(sid >> 8),
				   (uint8_t)(sid >> 16), (uint8_t)(sid >> 24) };
	return encap_kcp_push(sn, frame, sizeof frame, out, cap);
}

/* A PUSH carrying a smux NOP. */
static size_t encap_push(uint32_t sn, uint8_t *out, size_t cap)
{
	return encap_smux(sn, SMUX_NOP, 0, out, cap);
}

/* A masked client Binary frame around p (a 7-bit length, or a 16-bit one from 126 bytes). */
static size_t ws_frame(const uint8_t *p, size_t n, uint8_t *out)
{
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	assert_true(n < 65536);
	size_t hdr = 2;
	out[0] = 0x82;
	if (n < 126) {
		out[1] = (uint8_t)(0x80 | n);
	} else {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		hdr = 4;
	}
	memcpy(out + hdr, key, 4);
	for (size_t i = 0; i < n; i++)
		out[hdr + 4 + i] = p[i] ^ key[i % 4];
	return hdr + 4 + n;
}

/* The client end of a WebSocket handed over to sh (shard_test_util.h). */
static int hand_over(struct sf_shard *sh, const uint8_t clientid[8], const uint8_t *pending,
		     size_t pending_len)
{
	int fd = shard_test_hand_over(sh, clientid, pending, pending_len);
	assert_true(fd >= 0);
	return fd;
}

/* ---- what the shard writes back ---- */

struct downstream {
	uint8_t buf[65536];
	size_t len;			/* unparsed WebSocket bytes */
	struct sf_tt_decoder dec;
	bool close_frame;		/* a Close frame arrived */
	uint16_t close_code;		/* its status code (1005: none) */
	bool eof;
	/* the KCP ACKs seen for CONV */
	int acks;
	uint32_t last_ack_sn, last_una;
	bool other_conv;
};

static int on_packet(void *arg, const uint8_t *pkt, size_t len)
{
	struct downstream *d = arg;
	while (len >= 24) {
		struct sf_kcp_hdr h;
		sf_kcp_hdr_decode(pkt, &h);
		if (h.conv != CONV)
			d->other_conv = true;
		else if (h.cmd == SF_KCP_CMD_ACK) {
			d->acks++;
			d->last_ack_sn = h.sn;
			d->last_una = h.una;
		}
		if (h.len > len - 24)
			break;
		pkt += 24 + h.len;
		len -= 24 + h.len;
	}
	return 0;
}

static void downstream_init(struct downstream *d)
{
	memset(d, 0, sizeof *d);
	sf_tt_decoder_init(&d->dec, on_packet, d);
}

/* Parses the complete server frames (unmasked) in d->buf. */
static void parse_frames(struct downstream *d)
{
	size_t off = 0;
	while (d->len - off >= 2) {
		const uint8_t *f = d->buf + off;
		size_t hdr = 2, n = f[1] & 0x7f;
		assert_int_equal(f[1] & 0x80, 0); /* a server never masks */
		if (n == 126) {
			if (d->len - off < 4)
				break;
			n = (size_t)f[2] << 8 | f[3];
			hdr = 4;
		} else if (n == 127) {
			fail_msg("a 64-bit frame length from the shard");
		}
		if (d->len - off < hdr + n)
			break;
		uint8_t op = f[0] & 0x0f;
		if (op == 0x8) {
			d->close_frame = true;
			d->close_code = n >= 2 ? (uint16_t)(f[hdr] << 8 | f[hdr + 1]) : 1005;
		} else if (op == 0x2) {
			size_t used = 0;
			assert_int_equal(sf_tt_decoder_feed(&d->dec, f + hdr, n, &used), 0);
		}
		off += hdr + n;
	}
	memmove(d->buf, d->buf + off, d->len - off);
	d->len -= off;
}

/* Reads until done(d) or EOF or WAIT_MS. */
static void read_until(int fd, struct downstream *d, bool (*done)(const struct downstream *))
{
	uint64_t end = sf_clock_ms() + WAIT_MS;
	while (!done(d) && !d->eof && sf_clock_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = recv(fd, d->buf + d->len, sizeof d->buf - d->len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			d->eof = true;
			break;
		}
		if (n > 0) {
			d->len += (size_t)n;
			parse_frames(d);
		}
	}
}

static uint32_t want_una;
static bool got_una(const struct downstream *d)
{
	return d->acks > 0 && d->last_una >= want_una;
}

static bool got_close(const struct downstream *d)
{
	return d->close_frame && d->eof;
}

/* Waits (bounded) until the shard has counted n closed WebSockets. */
static void wait_websockets_closed(struct sf_shard *sh, uint64_t n)
{
	const struct sf_shard_metrics *m = sf_shard_metrics(sh);
	for (int i = 0; i < WAIT_MS / 10 && sf_counter_get(&m->websockets_closed) < n; i++)
		usleep(10000);
	assert_int_equal(sf_counter_get(&m->websockets_closed), n);
}

/* Hands over a WebSocket of id whose first packet (with the preamble) is a PUSH at sn 0, and
 * reads until the shard ACKs it: adopted, with a live session. Returns the client end. */
static int hand_over_live(struct sf_shard *sh, const uint8_t id[8], struct downstream *d)
{
	uint8_t pkt[64];
	int fd = hand_over(sh, id, pkt, encap_push(0, pkt, sizeof pkt));
	downstream_init(d);
	want_una = 1;
	read_until(fd, d, got_una);
	assert_true(got_una(d));
	return fd;
}

static void test_session_outlives_its_websocket(void **state)
{
	(void)state;
	struct sf_shard *sh = start_shard();
	static const uint8_t id[8] = { 'c', 'l', 'i', 'e', 'n', 't', '0', '1' };
	uint8_t pkt[64];

	struct downstream d;
	int a = hand_over_live(sh, id, &d);
	assert_int_equal(d.last_ack_sn, 0);
	assert_false(d.other_conv);

	/* the proxy goes away; the client comes back through another one */
	close(a);
	wait_websockets_closed(sh, 1);
	int b = hand_over(sh, id, pkt, encap_push(1, pkt, sizeof pkt));
	downstream_init(&d);
	want_una = 2;
	read_until(b, &d, got_una);
	assert_true(got_una(&d));
	assert_int_equal(d.last_ack_sn, 1);
	assert_int_equal(d.last_una, 2); /* sn 0 came over the first WebSocket: same session */

	const struct sf_shard_metrics *m = sf_shard_metrics(sh);
	assert_int_equal(sf_counter_get(&m->sessions_opened), 1);
	assert_int_equal(sf_counter_get(&m->clients_created), 1);
	assert_int_equal(sf_counter_get(&m->websockets_opened), 2);
	sf_shard_stop(sh);
	close(b);
}

static int want_acks;
static bool got_acks(const struct downstream *d)
{
	return d->acks >= want_acks;
}

/* A PUSH the session already has (the client resent it: our ACK was lost or late) is ACKed again
 * and counted, so an operator sees how much of the upstream traffic is resent. */
static void test_duplicate_push_is_counted(void **state)
{
	(void)state;
	struct sf_shard *sh = start_shard();
	static const uint8_t id[8] = { 'd', 'u', 'p', 'l', 'i', 'c', 'a', 't' };
	const struct sf_shard_metrics *m = sf_shard_metrics(sh);

	struct downstream d;
	int fd = hand_over_live(sh, id, &d);
	assert_int_equal(sf_counter_get(&m->kcp_dup_segs), 0);

	uint8_t pkt[64], frame[80];
	size_t n = ws_frame(pkt, encap_push(0, pkt, sizeof pkt), frame);
	want_acks = d.acks + 1;
	assert_int_equal(send(fd, frame, n, MSG_NOSIGNAL), (ssize_t)n);
	read_until(fd, &d, got_acks);
	assert_true(got_acks(&d));
	assert_int_equal(d.last_ack_sn, 0);
	assert_int_equal(sf_counter_get(&m->kcp_dup_segs), 1);
	sf_shard_stop(sh);
	close(fd);
}

static void test_bad_handover_closes_alone(void **state)
{
	(void)state;
	struct sf_shard *sh = start_shard();
	static const uint8_t id[8] = { 'c', 'l', 'i', 'e', 'n', 't', '0', '2' };
	uint8_t pkt[64], frame[128];

	struct downstream da;
	int a = hand_over_live(sh, id, &da);

	/* a second WebSocket of the same ClientID whose first packet is not KCP (cmd 7): it is
	 * closed while the shard adopts it */
	uint8_t bad[24] = { 0 };
	struct sf_kcp_hdr h = { .conv = CONV, .cmd = 7, .sn = 1 };
	sf_kcp_hdr_encode(bad, &h);
	size_t n = sf_tt_encode_packet(bad, sizeof bad, pkt, sizeof pkt);
	int b = hand_over(sh, id, pkt, n);
	struct downstream db;
	downstream_init(&db);
	read_until(b, &db, got_close);
	assert_true(db.eof);
	wait_websockets_closed(sh, 1);

	/* the first one carries on: a PUSH sent as a WebSocket frame is ACKed on it */
	n = encap_push(1, pkt, sizeof pkt);
	size_t fn = ws_frame(pkt, n, frame);
	assert_int_equal(send(a, frame, fn, MSG_NOSIGNAL), (ssize_t)fn);
	want_una = 2;
	read_until(a, &da, got_una);
	assert_true(got_una(&da));
	assert_int_equal(da.last_una, 2);
	assert_false(da.eof);
	sf_shard_stop(sh);
	close(a);
	close(b);
}

static void test_stop_closes_live_websockets(void **state)
{
	(void)state;
	struct sf_shard *sh = start_shard();
	int fds[3];
	struct downstream d;
	for (int i = 0; i < 3; i++) {
		uint8_t id[8] = { 's', 't', 'o', 'p', 0, 0, 0, (uint8_t)i };
		fds[i] = hand_over_live(sh, id, &d);
	}
	sf_shard_stop(sh);
	for (int i = 0; i < 3; i++) {
		downstream_init(&d);
		read_until(fds[i], &d, got_close);
		assert_true(d.close_frame); /* a Close frame, flushed before the socket closed */
		assert_true(d.eof);
		close(fds[i]);
	}
}

/* WebSockets handed over just as the shard stops — some adopted, the rest still in its inbox
 * when the stop comes — each get a Close frame before their socket closes, like live ones: the
 * proxy sees the bridge going away, not a broken connection. */
static void test_stop_closes_websockets_in_the_inbox(void **state)
{
	(void)state;
	enum { N = 48 };
	struct sf_shard *sh = start_shard();
	int fds[N];
	uint8_t pkt[64];
	size_t n = encap_push(0, pkt, sizeof pkt);
	for (int i = 0; i < N; i++) {
		uint8_t id[8] = { 'i', 'n', 'b', 'o', 'x', 0, 0, (uint8_t)i };
		fds[i] = hand_over(sh, id, pkt, n);
	}
	sf_shard_stop(sh);
	int without_close = 0;
	for (int i = 0; i < N; i++) {
		struct downstream d;
		downstream_init(&d);
		read_until(fds[i], &d, got_close);
		assert_true(d.eof);
		without_close += !d.close_frame;
		close(fds[i]);
	}
	assert_int_equal(without_close, 0);
}

/* A WebSocket the shard cannot take (a new ClientID while the shard is full) gets a Close with
 * 1013, Try Again Later, before its socket closes, and nothing else; the client already in
 * carries on. */
static void test_full_shard_refuses_with_try_again_later(void **state)
{
	(void)state;
	struct sf_shard *sh = start_shard_with(9, 0, 1);
	static const uint8_t in_id[8] = { 'f', 'i', 'r', 's', 't', 'o', 'n', 'e' };
	static const uint8_t late_id[8] = { 'l', 'a', 't', 'e', 'c', 'o', 'm', 'r' };
	uint8_t pkt[64], frame[128];

	struct downstream da;
	int a = hand_over_live(sh, in_id, &da);

	int b = hand_over(sh, late_id, pkt, encap_push(0, pkt, sizeof pkt));
	struct downstream db;
	downstream_init(&db);
	read_until(b, &db, got_close);
	assert_true(db.close_frame);
	assert_int_equal(db.close_code, 1013);
	assert_true(db.eof);
	assert_int_equal(db.acks, 0);

	size_t n = encap_push(1, pkt, sizeof pkt);
	size_t fn = ws_frame(pkt, n, frame);
	assert_int_equal(send(a, frame, fn, MSG_NOSIGNAL), (ssize_t)fn);
	want_una = 2;
	read_until(a, &da, got_una);
	assert_int_equal(da.last_una, 2);
	assert_false(da.close_frame);
	sf_shard_stop(sh);
	close(a);
	close(b);
}

/* The shard's thread calls itself sf-shard-<index> (top -H, ps -L). */
static void test_thread_is_named(void **state)
{
	(void)state;
	struct sf_shard *sh = start_shard();
	int named = 0;
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof comm, f) && strcmp(comm, "sf-shard-0\n") == 0)
			named++;
		fclose(f);
	}
	closedir(d);
	sf_shard_stop(sh);
	assert_int_equal(named, 1);
}

/* ---- a client that vanishes ---- */

static int listen_loopback(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* The tor connection the shard dials next (bounded wait). */
static int accept_tor(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	assert_true(fd >= 0);
	return fd;
}

/* Reads what is there without waiting; true once the peer has closed. */
static bool drained_to_eof(int fd)
{
	uint8_t buf[4096];
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return true;
		if (n < 0)
			return false;
	}
	return false;
}

static void test_vanished_client_is_freed(void **state)
{
	(void)state;
	enum { IDLE_MS = 1000, TALK_EVERY_MS = 100, GIVE_UP_MS = 15000 };
	uint16_t port;
	int lfd = listen_loopback(&port);
	struct sf_shard *sh = start_shard_with(port, IDLE_MS, 64);
	const struct sf_shard_metrics *m = sf_shard_metrics(sh);
	static const uint8_t gone_id[8] = { 'v', 'a', 'n', 'i', 's', 'h', 'e', 'd' };
	static const uint8_t talk_id[8] = { 't', 'a', 'l', 'k', 'i', 'n', 'g', '!' };
	uint8_t pkt[64], frame[128];

	/* each opens one stream (SYN, sid 1): the shard dials tor for it */
	int gone = hand_over(sh, gone_id, pkt, encap_smux(0, SMUX_SYN, 1, pkt, sizeof pkt));
	int gone_tor = accept_tor(lfd);
	int talk = hand_over(sh, talk_id, pkt, encap_smux(0, SMUX_SYN, 1, pkt, sizeof pkt));
	int talk_tor = accept_tor(lfd);

	/* `gone` falls silent without closing anything; `talk` sends a NOP every 100 ms */
	uint32_t sn = 1;
	bool gone_tor_closed = false, gone_ws_closed = false;
	uint64_t start = sf_clock_ms(), tor_closed_at = 0, ws_closed_at = 0;
	while (!(gone_tor_closed && gone_ws_closed) && sf_clock_ms() - start < GIVE_UP_MS) {
		size_t fn = ws_frame(pkt, encap_push(sn++, pkt, sizeof pkt), frame);
		assert_int_equal(send(talk, frame, fn, MSG_NOSIGNAL), (ssize_t)fn);
		usleep(TALK_EVERY_MS * 1000);
		assert_false(drained_to_eof(talk));
		assert_false(drained_to_eof(talk_tor));
		if (!gone_tor_closed && drained_to_eof(gone_tor)) {
			gone_tor_closed = true;
			tor_closed_at = sf_clock_ms();
		}
		if (!gone_ws_closed && drained_to_eof(gone)) {
			gone_ws_closed = true;
			ws_closed_at = sf_clock_ms();
		}
	}
	assert_true(gone_tor_closed); /* the session ended, and its stream with it */
	assert_true(gone_ws_closed);  /* then the ClientID record expired */
	assert_true(tor_closed_at <= ws_closed_at);
	assert_int_equal(sf_counter_get(&m->sessions_opened), 2);
	assert_int_equal(sf_counter_get(&m->sessions_closed), 1);
	assert_int_equal(sf_counter_get(&m->streams_closed), 1);
	assert_int_equal(sf_counter_get(&m->clients_freed), 1);
	assert_int_equal(sf_counter_get(&m->websockets_closed), 1);

	/* the talking client still has everything */
	assert_false(drained_to_eof(talk_tor));
	assert_false(drained_to_eof(talk));
	sf_shard_stop(sh);
	close(gone);
	close(gone_tor);
	close(talk);
	close(talk_tor);
	close(lfd);
}

/* ---- hoarders that go quiet ---- */

/* One KCP PUSH at sn carrying a full segment of filler, encapsulated. */
static size_t encap_full_push(uint32_t sn, uint8_t *out, size_t cap)
{
	static uint8_t filler[SF_KCP_MSS];
	memset(filler, 'h', sizeof filler);
	return encap_kcp_push(sn, filler, sizeof filler, out, cap);
}

/* Attacker first: sessions that fill the thread's KCP budget with data that can never be
 * delivered (sn 0 is never sent), all at once, and then fall silent. Nothing else arrives, so
 * no input would ever look for them; the shard must still close the stalled ones (biggest
 * first) once they have held their memory without progress for the stall period. */
static void test_quiet_hoarders_are_closed(void **state)
{
	(void)state;
	enum { HOARDERS = 12, SEGS = 120, GIVE_UP_MS = 8000 };
	/* 1 MiB of KCP memory for the thread: a session may hold an eighth of it (128 KiB), so
	 * twelve hoarders of 165 KB each spend it all, and the later ones are dropped. */
	assert_int_equal(setenv("SF_KCP_BUDGET_MB", "1", 1), 0);
	struct sf_shard *sh = start_shard();
	const struct sf_shard_metrics *m = sf_shard_metrics(sh);
	int fds[HOARDERS];
	static uint8_t pkt[2 * SF_KCP_MTU], frame[2 * SF_KCP_MTU + 16];
	for (int i = 0; i < HOARDERS; i++) {
		const uint8_t id[8] = { 'h', 'o', 'a', 'r', 'd', 'e', 'r', (uint8_t)('a' + i) };
		fds[i] = hand_over(sh, id, pkt, encap_full_push(1, pkt, sizeof pkt));
		for (uint32_t sn = 2; sn <= SEGS; sn++) {
			size_t n = ws_frame(pkt, encap_full_push(sn, pkt, sizeof pkt), frame);
			assert_int_equal(send(fds[i], frame, n, MSG_NOSIGNAL), (ssize_t)n);
		}
	}
	for (int i = 0; i < 2 * WAIT_MS / 10 && sf_counter_get(&m->sessions_opened) < HOARDERS; i++)
		usleep(10000);
	assert_int_equal(sf_counter_get(&m->sessions_opened), HOARDERS);
	assert_int_equal(sf_counter_get(&m->sessions_closed), 0);

	/* silence from every client from here on */
	uint64_t start = sf_clock_ms();
	while (sf_counter_get(&m->sessions_closed) == 0 && sf_clock_ms() - start < GIVE_UP_MS)
		usleep(20000);
	uint64_t closed = sf_counter_get(&m->sessions_closed);
	sf_shard_stop(sh);
	assert_int_equal(unsetenv("SF_KCP_BUDGET_MB"), 0);
	for (int i = 0; i < HOARDERS; i++)
		close(fds[i]);
	assert_true(closed >= 1);
	assert_true(closed < HOARDERS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_outlives_its_websocket),
		cmocka_unit_test(test_duplicate_push_is_counted),
		cmocka_unit_test(test_bad_handover_closes_alone),
		cmocka_unit_test(test_stop_closes_live_websockets),
		cmocka_unit_test(test_stop_closes_websockets_in_the_inbox),
		cmocka_unit_test(test_full_shard_refuses_with_try_again_later),
		cmocka_unit_test(test_vanished_client_is_freed),
		cmocka_unit_test(test_thread_is_named),
		cmocka_unit_test(test_quiet_hoarders_are_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
