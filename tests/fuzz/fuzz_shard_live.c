/* The real shard (src/shard: its thread, links, ClientID record, KCP and smux sessions, relay
 * streams and their tor connections, on its own event loop) under fuzzed bytes from both ends.
 * Per input: a shard starts whose plain ORPort is a listening socket of this program; one
 * WebSocket arrives as a hand-over over a socket pair (as the front hands one over once it has
 * read the preamble) and gets the input's client bytes, WebSocket frames as a proxy sends them;
 * every connection the shard dials to tor is accepted and sent the input's tor bytes; whatever
 * the shard writes to either side is read and dropped. After a bounded time the shard is
 * stopped, which must free everything (LeakSanitizer) without a crash, and nothing may be left
 * open. Slow (a thread per input), so it complements fuzz_shard_pipeline rather than replacing
 * it: this one reaches the code the pipeline only mirrors (src/shard/{client,link,stream}.c,
 * the tor side's sf_conn).
 * Input: [tor byte count, 2 bytes little endian][tor bytes][client WebSocket bytes]. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/shard_test_util.h"
#include "shard/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDS 40	/* polls of at most 1 ms: the shard's time with one input */
#define MAX_TOR 8	/* tor connections served per input; more wait in the backlog */

static struct sf_tor_target tor_target;
static int tor_listener = -1;

static void setup_once(void)
{
	signal(SIGPIPE, SIG_IGN);
	tor_listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	if (tor_listener < 0 || bind(tor_listener, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(tor_listener, 64) < 0 ||
	    getsockname(tor_listener, (struct sockaddr *)&a, &len) < 0)
		abort();
	memcpy(&tor_target.orport, &a, sizeof a);
	tor_target.orport_len = sizeof a;
	tor_target.has_orport = true;
}

/* Reads and drops what is there; false once the peer has closed or failed. */
static bool drain(int fd)
{
	uint8_t buf[16384];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
	}
	return true;
}

/* Sends what the socket takes now; returns the bytes sent (0 on a full or failed socket). */
static size_t send_some(int fd, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return w > 0 ? (size_t)w : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (tor_listener < 0)
		setup_once();
	if (size < 2)
		return 0;
	size_t tor_len = (size_t)data[0] | (size_t)data[1] << 8;
	data += 2;
	size -= 2;
	if (tor_len > size)
		tor_len = size;
	const uint8_t *tor_bytes = data, *client = data + tor_len;
	size_t client_len = size - tor_len;

	struct sf_shard_params p = { .tor = &tor_target, .clientmap_capacity = 16, .max_clients = 16 };
	char err[256];
	struct sf_shard *sh = sf_shard_start(&p, 0, err, sizeof err);
	if (!sh)
		abort();
	int client_fd = shard_test_hand_over(sh, (const uint8_t *)"fuzzlive", NULL, 0);
	if (client_fd < 0)
		abort();

	int tor_fds[MAX_TOR];
	size_t tor_sent[MAX_TOR];
	int ntor = 0;
	size_t client_sent = 0;
	bool client_open = true;
	for (int round = 0; round < ROUNDS; round++) {
		if (client_open && client_sent < client_len)
			client_sent += send_some(client_fd, client + client_sent, client_len - client_sent);
		if (client_open)
			client_open = drain(client_fd);
		while (ntor < MAX_TOR) {
			int fd = accept4(tor_listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				break;
			tor_fds[ntor] = fd;
			tor_sent[ntor++] = 0;
		}
		for (int i = 0; i < ntor; i++) {
			if (tor_fds[i] < 0)
				continue;
			tor_sent[i] += send_some(tor_fds[i], tor_bytes + tor_sent[i], tor_len - tor_sent[i]);
			if (!drain(tor_fds[i])) {
				close(tor_fds[i]);
				tor_fds[i] = -1;
			}
		}
		struct pollfd pf = { .fd = client_fd, .events = POLLIN };
		poll(&pf, 1, 1);
	}
	sf_shard_stop(sh);
	close(client_fd);
	for (int i = 0; i < ntor; i++)
		if (tor_fds[i] >= 0)
			close(tor_fds[i]);
	/* dials that reached the backlog after the last accept */
	for (int fd; (fd = accept4(tor_listener, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
		close(fd);
	return 0;
}
