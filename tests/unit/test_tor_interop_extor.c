/* The dialer against sfpeer (goptlib's real peer side: `sfpeer extor` and `sfpeer echo`) and
 * against local sockets that refuse, stay silent or never complete the TCP handshake.
 * Everything on 127.0.0.1; every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/conn.h"
#include "tor/dial.h"
#include "tor/srcaddr.h"
#include "tor_test_util.h"

#define MAX_PEERS 4
#define PEER_WAIT_MS 10000
#define DIAL_WAIT_S 20

extern char **environ;

struct peer {
	pid_t pid;
	int out_fd; /* its stdout: one JSON object per line */
	char buf[8192];
	size_t len;
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

static struct peer peers[MAX_PEERS];
static char tmpdir[128];
static char cookie_path[256];
static struct sf_tor_cookie cookie; /* what the dials use: loaded from cookie_path */

static int make_tmpdir(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sf-tor-interop-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cookie_path, sizeof cookie_path, "%s/cookie", tmpdir);
	return 0;
}

static void stop_peer(struct peer *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 100; i++) { /* up to 5 s, then SIGKILL */
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
			goto reaped;
		usleep(50 * 1000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
reaped:
	close(p->out_fd);
	memset(p, 0, sizeof *p);
}

static int stop_all(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_PEERS; i++)
		stop_peer(&peers[i]);
	unlink(cookie_path);
	sf_tor_cookie_free(&cookie);
	return 0;
}

static int remove_tmpdir(void **state)
{
	stop_all(state);
	rmdir(tmpdir);
	return 0;
}

/* Next line of the peer's stdout as JSON, or NULL after timeout_ms. */
static json_t *peer_read_json(struct peer *p, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		char *nl = memchr(p->buf, '\n', p->len);
		if (nl) {
			size_t line_len = (size_t)(nl - p->buf);
			json_t *j = json_loadb(p->buf, line_len, 0, NULL);
			memmove(p->buf, nl + 1, p->len - line_len - 1);
			p->len -= line_len + 1;
			return j;
		}
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) > 0) {
			ssize_t n = read(p->out_fd, p->buf + p->len, sizeof p->buf - p->len);
			if (n <= 0)
				return NULL;
			p->len += (size_t)n;
		}
	}
	return NULL;
}

static void parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	assert_non_null(colon);
	assert_true((size_t)(colon - s) < sizeof host);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof *ss);
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)atoi(colon + 1));
	assert_int_equal(inet_pton(AF_INET, host, &in->sin_addr), 1);
	*len = sizeof *in;
}

/* Starts `sfpeer <args>` listening on a port of its choice and reads that port back. */
static struct peer *start_peer(const char *const *args)
{
	struct peer *p = NULL;
	for (int i = 0; i < MAX_PEERS && !p; i++)
		if (peers[i].pid == 0)
			p = &peers[i];
	assert_non_null(p);

	char *argv[16];
	int argc = 0;
	argv[argc++] = (char *)SFPEER_PATH;
	for (; args[argc - 1] && argc < 15; argc++)
		argv[argc] = (char *)args[argc - 1];
	argv[argc] = NULL;

	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	int rc = posix_spawn(&p->pid, SFPEER_PATH, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	assert_int_equal(rc, 0);
	p->out_fd = pipefd[0];

	json_t *j = peer_read_json(p, PEER_WAIT_MS);
	assert_non_null(j);
	assert_string_equal(tor_test_str(j, "event"), "listening");
	parse_hostport(tor_test_str(j, "addr"), &p->addr, &p->addr_len);
	json_decref(j);
	return p;
}

static struct peer *start_extor(const char *flag)
{
	const char *args[] = { "extor", "--listen", "127.0.0.1:0", "--cookie", cookie_path, flag, NULL };
	return start_peer(args);
}

struct dial_result {
	struct event_base *base;
	struct sf_tor_dial *d;
	enum sf_tor_dial_outcome outcome;
	bool called;
	int calls;
	struct sf_conn *conn; /* on success, detached */
	int fd;               /* its socket */
	char err[512];
};

/* A dialed connection is detached from the loop here, so the test speaks on its socket directly
 * (what tor sends after OKAY must still be there: the dialer reads only the handshake). */
static void on_dial(struct sf_conn *conn, const char *err, void *arg)
{
	struct dial_result *r = arg;
	r->called = true;
	r->calls++;
	r->outcome = sf_tor_dial_outcome(r->d);
	r->conn = conn;
	if (conn) {
		sf_conn_detach(conn);
		r->fd = sf_conn_fd(conn);
	}
	snprintf(r->err, sizeof r->err, "%s", err ? err : "");
	event_base_loopbreak(r->base);
}

static void run_loop_for(struct event_base *base, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* One dial to completion: fd >= 0 on success, else r->err. */
static struct dial_result dial(const struct sf_tor_target *t, const char *useraddr)
{
	struct dial_result r = { .fd = -1 };
	r.base = event_base_new();
	assert_non_null(r.base);
	struct sf_tor_dial *d = sf_tor_dial_start(r.base, t, useraddr, on_dial, &r);
	assert_non_null(d);
	r.d = d;
	assert_false(r.called); /* never from inside sf_tor_dial_start */
	run_loop_for(r.base, DIAL_WAIT_S * 1000);
	if (!r.called)
		sf_tor_dial_cancel(d);
	assert_true(r.called);
	/* Nothing more may arrive after the one callback. */
	run_loop_for(r.base, 50);
	assert_int_equal(r.calls, 1);
	event_base_free(r.base);
	return r;
}

/* (Re)loads the cookie the dials use from cookie_path, as the server does at start. Loaded "at
 * time 0" so that the first re-read a dial asks for is never too soon. */
static void load_cookie(void)
{
	char err[512];
	sf_tor_cookie_free(&cookie);
	if (sf_tor_cookie_load(&cookie, cookie_path, 0, err, sizeof err) < 0)
		fail_msg("%s", err);
}

/* For targets nothing answers: some valid cookie. */
static void load_any_cookie(void)
{
	uint8_t file[64];
	memcpy(file, "! Extended ORPort Auth Cookie !\n", 32);
	memset(file + 32, 0x33, 32);
	FILE *f = fopen(cookie_path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(file, 1, sizeof file, f), sizeof file);
	assert_int_equal(fclose(f), 0);
	load_cookie();
}

static struct sf_tor_target extor_target(const struct peer *p)
{
	struct sf_tor_target t = { 0 };
	load_cookie();
	t.has_extor = true;
	t.extor = p->addr;
	t.extor_len = p->addr_len;
	t.cookie = &cookie;
	t.transport = "snowflake";
	return t;
}

static struct sf_tor_target orport_target(const struct sockaddr_storage *addr, socklen_t len)
{
	struct sf_tor_target t = { 0 };
	t.has_orport = true;
	t.orport = *addr;
	t.orport_len = len;
	t.transport = "snowflake";
	return t;
}

static void expect_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0 && (fl & O_NONBLOCK));
}

/* Sends a message and reads the echo back (bounded). */
static void check_echo(int fd)
{
	const char msg[] = "relay cell bytes \x00\x01\x02\xff after OKAY";
	char back[sizeof msg];
	size_t sent = 0, got = 0;

	for (int i = 0; i < 200 && got < sizeof msg; i++) {
		struct pollfd pfd = { .fd = fd, .events = (short)(POLLIN | (sent < sizeof msg ? POLLOUT : 0)) };
		assert_true(poll(&pfd, 1, 50) >= 0);
		if (sent < sizeof msg && (pfd.revents & POLLOUT)) {
			ssize_t n = send(fd, msg + sent, sizeof msg - sent, MSG_NOSIGNAL);
			assert_true(n > 0);
			sent += (size_t)n;
		}
		if (pfd.revents & POLLIN) {
			ssize_t n = recv(fd, back + got, sizeof back - got, 0);
			assert_true(n > 0);
			got += (size_t)n;
		}
	}
	assert_int_equal(got, sizeof msg);
	assert_memory_equal(back, msg, sizeof msg);
}

static json_t *next_conn_report(struct peer *p)
{
	json_t *j = peer_read_json(p, PEER_WAIT_MS);
	assert_non_null(j);
	assert_string_equal(tor_test_str(j, "event"), "extor_conn");
	return j;
}

static void test_extor_success(void **state)
{
	(void)state;
	struct peer *p = start_extor(NULL);
	struct sf_tor_target t = extor_target(p);

	struct dial_result r = dial(&t, "192.0.2.7:1");
	if (r.fd < 0)
		fail_msg("dial failed: %s", r.err);
	assert_int_equal(r.outcome, SF_TOR_DIAL_OK);
	expect_nonblocking(r.fd);
	check_echo(r.fd);
	json_t *j = next_conn_report(p);
	assert_string_equal(tor_test_str(j, "auth"), "ok");
	assert_string_equal(tor_test_str(j, "useraddr"), "192.0.2.7:1");
	assert_string_equal(tor_test_str(j, "transport"), "snowflake");
	assert_string_equal(tor_test_str(j, "reply"), "OKAY");
	json_decref(j);
	sf_conn_close(r.conn);

	/* No USERADDR, and a source address bound from orport-srcaddr. */
	struct sf_tor_srcaddr src;
	char err[128];
	assert_int_equal(sf_tor_srcaddr_parse("127.0.0.1/32", &src, err, sizeof err), 0);
	t.srcaddr = &src;
	r = dial(&t, NULL);
	if (r.fd < 0)
		fail_msg("dial failed: %s", r.err);
	check_echo(r.fd);
	j = next_conn_report(p);
	assert_string_equal(tor_test_str(j, "auth"), "ok");
	assert_true(json_is_null(json_object_get(j, "useraddr")));
	assert_string_equal(tor_test_str(j, "transport"), "snowflake");
	assert_true(strncmp(tor_test_str(j, "remote"), "127.0.0.1:", 10) == 0);
	json_decref(j);
	sf_conn_close(r.conn);
}

static void test_extor_bad_auth(void **state)
{
	(void)state;
	struct peer *p = start_extor("--bad-auth");
	struct sf_tor_target t = extor_target(p);
	struct dial_result r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, "mismatch in server hash");
	/* The file holds the cookie we have: the backend is at fault, not our copy. */
	assert_int_equal(r.outcome, SF_TOR_DIAL_AUTH_FAILED);
	assert_int_equal(cookie.reloads, 1);
	json_t *j = next_conn_report(p);
	assert_string_equal(tor_test_str(j, "auth"), "client_rejected_server_hash");
	json_decref(j);
}

static void test_extor_deny(void **state)
{
	(void)state;
	struct peer *p = start_extor("--deny");
	struct sf_tor_target t = extor_target(p);
	struct dial_result r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, "server returned DENY after our USERADDR and DONE");
	assert_int_equal(r.outcome, SF_TOR_DIAL_OTHER);
	json_t *j = next_conn_report(p);
	assert_string_equal(tor_test_str(j, "reply"), "DENY");
	assert_string_equal(tor_test_str(j, "useraddr"), "192.0.2.7:1");
	json_decref(j);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The cookie is read once; the file is read again only after tor refused our cookie. */
static void test_extor_cookie_changes(void **state)
{
	(void)state;
	struct peer *p = start_extor(NULL);
	struct sf_tor_target t = extor_target(p);
	uint8_t real[64], other[64];
	read_file(cookie_path, real, sizeof real);
	memcpy(other, real, 32);
	memset(other + 32, 0xa5, 32);

	/* The file changes under a working cookie: dials do not read it, they keep working. */
	write_file(cookie_path, other, sizeof other);
	struct dial_result r = dial(&t, "192.0.2.7:1");
	if (r.fd < 0)
		fail_msg("dial failed: %s", r.err);
	sf_conn_close(r.conn);
	json_t *j = next_conn_report(p);
	assert_string_equal(tor_test_str(j, "auth"), "ok");
	json_decref(j);
	assert_int_equal(cookie.reloads, 0);

	/* Our copy is wrong (as after a tor restart) and the file holds the same wrong cookie:
	 * the server's hash does not verify, the re-read finds nothing new. */
	load_cookie();
	r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, "mismatch in server hash");
	assert_int_equal(r.outcome, SF_TOR_DIAL_AUTH_FAILED);
	assert_int_equal(cookie.reloads, 1);
	j = next_conn_report(p);
	/* The peer saw the connection close where the ClientHash should have come. */
	assert_string_equal(tor_test_str(j, "auth"), "incomplete");
	assert_true(strncmp(tor_test_str(j, "error"), "read client hash: ", 18) == 0);
	json_decref(j);

	/* tor "restarts": the file gets the right cookie. One failed handshake re-reads it (the
	 * copy was loaded at time 0, so the once-a-second rule allows it) and the next dial works. */
	load_cookie();
	write_file(cookie_path, real, sizeof real);
	r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.outcome, SF_TOR_DIAL_AUTH_RETRY);
	assert_int_equal(cookie.reloads, 1);
	json_decref(next_conn_report(p));
	r = dial(&t, "192.0.2.7:1");
	if (r.fd < 0)
		fail_msg("dial after the cookie change failed: %s", r.err);
	check_echo(r.fd);
	sf_conn_close(r.conn);
	j = next_conn_report(p);
	assert_string_equal(tor_test_str(j, "auth"), "ok");
	json_decref(j);

	/* A wrong copy again right away: the file is not read twice within a second. */
	write_file(cookie_path, other, sizeof other);
	load_cookie();
	write_file(cookie_path, real, sizeof real);
	cookie.last_read_ms = UINT64_MAX / 2; /* "just read" */
	r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.outcome, SF_TOR_DIAL_AUTH_FAILED);
	assert_int_equal(cookie.reloads, 0);
	json_decref(next_conn_report(p));
}

static void test_plain_orport(void **state)
{
	(void)state;
	const char *args[] = { "echo", "--listen", "127.0.0.1:0", NULL };
	struct peer *p = start_peer(args);
	struct sf_tor_target t = orport_target(&p->addr, p->addr_len);

	struct dial_result r = dial(&t, "192.0.2.7:1");
	if (r.fd < 0)
		fail_msg("dial failed: %s", r.err);
	expect_nonblocking(r.fd);
	check_echo(r.fd);
	sf_conn_close(r.conn);

	/* An ExtORPort without a cookie is not used: plain ORPort, with a source address. */
	struct sf_tor_srcaddr src;
	char err[128];
	assert_int_equal(sf_tor_srcaddr_parse("127.0.0.1", &src, err, sizeof err), 0);
	t.has_extor = true;
	t.extor = p->addr;
	t.extor_len = p->addr_len;
	t.srcaddr = &src;
	r = dial(&t, NULL);
	if (r.fd < 0)
		fail_msg("dial failed: %s", r.err);
	struct sockaddr_in local;
	socklen_t len = sizeof local;
	assert_int_equal(getsockname(r.fd, (struct sockaddr *)&local, &len), 0);
	assert_int_equal(local.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	check_echo(r.fd);
	sf_conn_close(r.conn);
}

/* A loopback port with a listener that never accepts nor speaks; backlog as given. */
static int silent_listener(int backlog, struct sockaddr_storage *addr, socklen_t *len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
	assert_int_equal(listen(fd, backlog), 0);
	*len = sizeof *addr;
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, len), 0);
	return fd;
}

static void test_nothing_listening(void **state)
{
	(void)state;
	struct sockaddr_storage addr;
	socklen_t len;
	char want[128];
	int fd = silent_listener(1, &addr, &len);
	close(fd); /* the port is now (very likely) closed */

	snprintf(want, sizeof want, "dial tcp 127.0.0.1:%u: connect: connection refused",
		 ntohs(((struct sockaddr_in *)&addr)->sin_port));
	struct sf_tor_target t = orport_target(&addr, len);
	struct dial_result r = dial(&t, NULL);
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, want);

	t.has_extor = true;
	t.extor = addr;
	t.extor_len = len;
	load_any_cookie();
	t.cookie = &cookie;
	r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, want);
	assert_int_equal(r.outcome, SF_TOR_DIAL_UNREACHABLE);
	sf_tor_cookie_free(&cookie);
}

static void test_handshake_deadline(void **state)
{
	(void)state;
	struct sockaddr_storage addr;
	socklen_t len;
	int lfd = silent_listener(4, &addr, &len);

	struct sf_tor_target t = { 0 };
	t.has_extor = true;
	t.extor = addr;
	t.extor_len = len;
	load_any_cookie();
	t.cookie = &cookie;
	t.transport = "snowflake";
	t.handshake_timeout_ms = 300;
	struct dial_result r = dial(&t, "192.0.2.7:1");
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.outcome, SF_TOR_DIAL_UNREACHABLE);
	sf_tor_cookie_free(&cookie);
	assert_true(strncmp(r.err, "read tcp 127.0.0.1:", 19) == 0);
	size_t n = strlen(r.err);
	assert_true(n > 13);
	assert_string_equal(r.err + n - 13, ": i/o timeout");
	close(lfd);
}

static void test_connect_deadline(void **state)
{
	(void)state;
	struct sockaddr_storage addr;
	socklen_t len;
	int lfd = silent_listener(0, &addr, &len);
	int fillers[4];

	/* Fill the accept queue: further SYNs to this port are dropped and connect hangs. */
	for (int i = 0; i < 4; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fillers[i] >= 0);
		int rc = connect(fillers[i], (struct sockaddr *)&addr, len);
		assert_true(rc == 0 || errno == EINPROGRESS);
	}
	usleep(100 * 1000);

	char want[128];
	snprintf(want, sizeof want, "dial tcp 127.0.0.1:%u: i/o timeout",
		 ntohs(((struct sockaddr_in *)&addr)->sin_port));
	struct sf_tor_target t = orport_target(&addr, len);
	t.connect_timeout_ms = 300;
	struct dial_result r = dial(&t, NULL);
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, want);
	assert_int_equal(r.outcome, SF_TOR_DIAL_UNREACHABLE);
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(lfd);
}

static void test_cancel(void **state)
{
	(void)state;
	struct sockaddr_storage addr;
	socklen_t len;
	int lfd = silent_listener(4, &addr, &len);
	struct dial_result r = { .fd = -1 };
	r.base = event_base_new();
	assert_non_null(r.base);

	struct sf_tor_target t = { 0 };
	t.has_extor = true;
	t.extor = addr;
	t.extor_len = len;
	load_any_cookie();
	t.cookie = &cookie;
	t.handshake_timeout_ms = 200;

	/* Before the loop ever ran. */
	struct sf_tor_dial *d = sf_tor_dial_start(r.base, &t, NULL, on_dial, &r);
	assert_non_null(d);
	sf_tor_dial_cancel(d);
	run_loop_for(r.base, 300);
	assert_false(r.called);

	/* In the middle of the handshake, then past its deadline. */
	d = sf_tor_dial_start(r.base, &t, NULL, on_dial, &r);
	assert_non_null(d);
	run_loop_for(r.base, 100);
	assert_false(r.called);
	sf_tor_dial_cancel(d);
	run_loop_for(r.base, 400);
	assert_false(r.called);

	/* A failure known at start is still reported from the loop, and can be cancelled too. */
	struct sf_tor_target none = { 0 };
	d = sf_tor_dial_start(r.base, &none, NULL, on_dial, &r);
	assert_non_null(d);
	assert_false(r.called);
	sf_tor_dial_cancel(d);
	run_loop_for(r.base, 50);
	assert_false(r.called);

	event_base_free(r.base);
	close(lfd);
	sf_tor_cookie_free(&cookie);
}

static void test_early_failures(void **state)
{
	(void)state;
	struct sf_tor_target none = { 0 };
	struct dial_result r = dial(&none, NULL);
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, "dial tcp: missing address");
	assert_int_equal(r.outcome, SF_TOR_DIAL_OTHER);

	/* An IPv6 source range for an IPv4 ORPort, as Go's dialer refuses it. */
	struct sockaddr_storage addr;
	socklen_t len;
	int lfd = silent_listener(1, &addr, &len);
	struct sf_tor_srcaddr src;
	char err[128];
	assert_int_equal(sf_tor_srcaddr_parse("::1/128", &src, err, sizeof err), 0);
	struct sf_tor_target t = orport_target(&addr, len);
	t.srcaddr = &src;
	r = dial(&t, NULL);
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.err, "dial tcp: address [::1]:0: no suitable address found");
	assert_int_equal(r.outcome, SF_TOR_DIAL_OTHER);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_extor_success, stop_all),
		cmocka_unit_test_teardown(test_extor_bad_auth, stop_all),
		cmocka_unit_test_teardown(test_extor_deny, stop_all),
		cmocka_unit_test_teardown(test_extor_cookie_changes, stop_all),
		cmocka_unit_test_teardown(test_plain_orport, stop_all),
		cmocka_unit_test(test_nothing_listening),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_connect_deadline),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_early_failures),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
