/* Shared by the test_server_*.c files: a server on the caller's loop whose tor is an ORPort on
 * 127.0.0.1:9 (discard; never dialled unless a test opens a smux stream). */
#ifndef SERVER_TEST_UTIL_H
#define SERVER_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "snowflake/server.h"

/* Fills in the ORPort; the caller sets the rest of cfg first (or leaves it zero). */
static inline struct sf_server *test_server_new(struct event_base *base, struct sf_server_config *cfg)
{
	struct sockaddr_in *orport = (struct sockaddr_in *)&cfg->orport;
	cfg->has_orport = true;
	orport->sin_family = AF_INET;
	orport->sin_port = htons(9);
	orport->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg->orport_len = sizeof *orport;
	char err[256];
	struct sf_server *srv = sf_server_new(base, cfg, err, sizeof err);
	if (!srv)
		fail_msg("sf_server_new: %s", err);
	return srv;
}

#endif
