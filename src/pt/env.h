/* Managed-proxy environment of a server transport, read as goptlib's ServerSetup reads it:
 * same order, same stdout lines (VERSION 1, VERSION-ERROR, ENV-ERROR) with the same texts. */
#ifndef SF_PT_ENV_H
#define SF_PT_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "pt/args.h"
#include "pt/bindaddr.h"

/* Environment lookup, injectable for tests: NULL (or "") means unset. */
typedef const char *(*sf_pt_getenv_fn)(const char *name, void *arg);

/* getenv(3) as an sf_pt_getenv_fn (arg unused). */
const char *sf_pt_process_getenv(const char *name, void *arg);

struct sf_pt_bindaddr {
	char *method;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[SF_PT_ADDR_TEXT_MAX];	/* as Go reprints it: "0.0.0.0:443", "[::]:443" */
	struct sf_pt_args *options;		/* this method's options; NULL when none */
};

struct sf_pt_server_info {
	struct sf_pt_bindaddr *bindaddrs;	/* BINDADDR order, filtered by TRANSPORTS */
	size_t n_bindaddrs;
	bool has_orport;
	struct sockaddr_storage orport;
	socklen_t orport_len;
	bool has_extorport;
	struct sockaddr_storage extorport;
	socklen_t extorport_len;
	char *auth_cookie_file;			/* NULL when unset or empty */
	bool exit_on_stdin_close;		/* TOR_PT_EXIT_ON_STDIN_CLOSE is exactly "1" */
};

/* ServerSetup: prints "VERSION 1" to out, then checks TOR_PT_SERVER_TRANSPORT_OPTIONS,
 * TOR_PT_SERVER_BINDADDR, TOR_PT_SERVER_TRANSPORTS, TOR_PT_ORPORT, TOR_PT_AUTH_COOKIE_FILE,
 * TOR_PT_EXTENDED_SERVER_PORT in that order. Returns 0 with *info filled (free it with
 * sf_pt_server_info_free), or -1 after printing the VERSION-ERROR/ENV-ERROR line (the caller
 * exits 1); *info is then empty. */
int sf_pt_server_setup(sf_pt_getenv_fn getenv_fn, void *arg, FILE *out,
		       struct sf_pt_server_info *info);
void sf_pt_server_info_free(struct sf_pt_server_info *info);

/* goptlib MakeStateDir: reads TOR_PT_STATE_LOCATION and creates it like Go's
 * os.MkdirAll(dir, 0700). Returns 0 with *dir set (malloc'd). Returns -1 with the error the
 * reference logs after "disabling ACME certificate cache: " in err (lib/err.h):
 *  - variable missing/empty: prints "ENV-ERROR no TOR_PT_STATE_LOCATION environment variable"
 *    to out, and err is that same line without the newline (Go's ptErr text);
 *  - mkdir failure: nothing printed, err like "mkdir /x: permission denied";
 *  - out of memory: "out of memory". */
int sf_pt_make_state_dir(sf_pt_getenv_fn getenv_fn, void *arg, FILE *out, char **dir,
			 char *err, size_t errlen);

/* Go's filepath.Join(dir, name): joined and cleaned ("a/b/" + "c" -> "a/b/c"). malloc'd. */
char *sf_pt_path_join(const char *dir, const char *name);

#endif
