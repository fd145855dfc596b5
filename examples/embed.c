/* The smallest program that embeds the Snowflake server through its public header alone: plain
 * ws:// on 127.0.0.1:PORT, every smux stream relayed to the ORPort at 127.0.0.1:ORPORT, until
 * SIGTERM or SIGINT. No managed-proxy protocol, no TLS: that is what snowflake-server's main.c
 * adds around the same API.
 *
 *   sf-embed-example PORT ORPORT [SHARDS]
 *
 * It prints "listening on 127.0.0.1:PORT" once connections are accepted. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <snowflake/server.h>

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listen_on(int port)
{
	struct sockaddr_in a = loopback(port);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
		perror("listen");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	fprintf(stderr, "signal %d: stopping\n", (int)sig);
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT ORPORT [SHARDS]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in orport = loopback(atoi(argv[2]));
	struct sf_server_config cfg = { .has_orport = true, .orport_len = sizeof orport };
	memcpy(&cfg.orport, &orport, sizeof orport);
	cfg.num_shards = argc > 3 ? (unsigned)atoi(argv[3]) : 0;

	struct event_base *base = event_base_new();
	char err[256];
	struct sf_server *srv = base ? sf_server_new(base, &cfg, err, sizeof err) : NULL;
	if (!srv) {
		fprintf(stderr, "sf_server_new: %s\n", base ? err : "no event base");
		return 1;
	}
	int fd = listen_on(atoi(argv[1]));
	if (fd < 0 || sf_server_add_listener(srv, fd) < 0) {
		sf_server_free(srv);
		event_base_free(base);
		return 1;
	}
	struct event *term = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *intr = evsignal_new(base, SIGINT, on_signal, base);
	event_add(term, NULL);
	event_add(intr, NULL);
	printf("listening on 127.0.0.1:%s\n", argv[1]);
	fflush(stdout);

	event_base_dispatch(base);

	sf_server_free(srv);
	event_free(term);
	event_free(intr);
	event_base_free(base);
	return 0;
}
