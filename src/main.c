/* snowflake-server: command line, tor's managed-proxy setup, listeners, signals. Mirrors the
 * sequence of upstream's main() (docs/pt.md "Start-up sequence"); the data path lives in the
 * server library. */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/err.h"
#include "lib/flags.h"
#include "lib/size.h"
#include "lib/version.h"
#include "lib/goduration.h"
#include "lib/log.h"
#include "pt/bindaddr.h"
#include "pt/env.h"
#include "pt/output.h"
#include "snowflake/certs.h"
#include "snowflake/server.h"

#define METHOD_NAME "snowflake"
#define STATS_INTERVAL_S 86400

static const char usage_header_fmt[] =
	"Usage: %s [OPTIONS]\n"
	"\n"
	"WebSocket server pluggable transport for Snowflake. Works only as a managed\n"
	"proxy. Uses TLS with ACME (Let's Encrypt) by default. Set the certificate\n"
	"hostnames with the --acme-hostnames option. Use ServerTransportListenAddr in\n"
	"torrc to choose the listening port. When using TLS, this program will open an\n"
	"additional HTTP listener on port 80 to work with ACME.\n"
	"\n";

struct options {
	const char *acme_email;
	const char *acme_hostnames;
	bool disable_tls;
	const char *log_path;
	bool unsafe_logging;
	bool version;
	/* beyond upstream: for tests and private CAs */
	const char *acme_directory;
	const char *acme_ca_file;
	const char *acme_http_port_text;
	const char *acme_renew_before_text;
	unsigned acme_http_port;
	uint64_t acme_renew_before_ms;
	const char *metrics_addr_text;		/* --metrics-addr, "" = off */
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_addr_len;
	const char *user;			/* --user, "" = stay */
	bool seccomp;				/* --seccomp */
	const char *memory_budget_text;		/* --memory-budget, "" = the default */
	uint64_t memory_budget;			/* 0 = the default */
};

#define MAX_HOSTNAMES 64

struct app {
	struct event_base *base;
	struct sf_server *server;
	struct sf_certs *certs;			/* TLS mode */
	struct sf_http01 *http01;		/* TLS mode: the port-80 listener */
	const char *hostnames[MAX_HOSTNAMES];	/* --acme-hostnames split on ',', untrimmed */
	size_t n_hostnames;
	char *hostnames_buf;
	struct event *sigterm, *sigint, *sigusr1, *sighup, *stdin_ev, *stats_ev;
	const char *log_path;			/* --log, "" for stderr: reopened on SIGHUP */
	uint64_t last_stats_ms;
	const char *exit_reason;
};

/* After the flags: what tor (or a hand-written environment under systemd) configures. */
static const char usage_footer[] =
	"\n"
	"Transport options (torrc: ServerTransportOptions snowflake K=V ...; standalone:\n"
	"TOR_PT_SERVER_TRANSPORT_OPTIONS=snowflake:K=V;snowflake:K=V):\n"
	"  num-turbotunnel=N\n"
	"    \tnumber of shard threads (default: number of CPUs; 1 to 4 per CPU)\n"
	"  orport-srcaddr=ADDR|CIDR\n"
	"    \tbind each ORPort connection to a random source address from this range\n"
	"    \t(e.g. 127.0.1.0/24), so loopback connections do not run out of ports\n"
	"\n"
	"Environment (set by tor, or by hand when running standalone; see snowflake-server(1)):\n"
	"  TOR_PT_MANAGED_TRANSPORT_VER=1      TOR_PT_SERVER_TRANSPORTS=snowflake\n"
	"  TOR_PT_SERVER_BINDADDR=snowflake-ADDR:PORT[,...]   listening address(es)\n"
	"  TOR_PT_ORPORT=ADDR:PORT or TOR_PT_EXTENDED_SERVER_PORT=ADDR:PORT with\n"
	"  TOR_PT_AUTH_COOKIE_FILE=PATH        where sessions are forwarded\n"
	"  TOR_PT_STATE_LOCATION=DIR           certificate cache: DIR/snowflake-certificate-cache\n"
	"  TOR_PT_EXIT_ON_STDIN_CLOSE=0|1      exit when stdin closes (1 under tor)\n"
	"\n"
	"Signals: TERM/INT exit cleanly; HUP reopens the --log file (logrotate) and re-reads\n"
	"the certificate cache; USR1 logs the client_ip statistics line now.\n";

static void usage(FILE *out, const struct sf_flags *fs, const char *argv0)
{
	char header[sizeof usage_header_fmt + 256];
	snprintf(header, sizeof header, usage_header_fmt, argv0);
	sf_flags_print_usage(out, fs, header);
	fputs(usage_footer, out);
}

static void parse_flags(int argc, char **argv, struct options *o)
{
	struct sf_flags fs;
	sf_flags_init(&fs);
	sf_flags_string(&fs, &o->acme_email, "acme-email", "",
			"optional contact email for Let's Encrypt notifications");
	sf_flags_string(&fs, &o->acme_hostnames, "acme-hostnames", "",
			"comma-separated hostnames for TLS certificate");
	sf_flags_bool(&fs, &o->disable_tls, "disable-tls", false, "don't use HTTPS");
	sf_flags_string(&fs, &o->log_path, "log", "", "log file to write to");
	sf_flags_bool(&fs, &o->unsafe_logging, "unsafe-logging", false,
		      "prevent logs from being scrubbed");
	sf_flags_bool(&fs, &o->version, "version", false, "display version info to stderr and quit");
	sf_flags_string(&fs, &o->acme_directory, "acme-directory", SF_CERTS_ACME_DIRECTORY_DEFAULT,
			"ACME directory `URL` of the certificate authority");
	sf_flags_string(&fs, &o->acme_ca_file, "acme-ca-file", "",
			"PEM `file` of CA certificates to trust for the ACME API (default: the system's)");
	sf_flags_string(&fs, &o->acme_http_port_text, "acme-http-port", "80",
			"`port` of the HTTP-01 ACME listener");
	sf_flags_string(&fs, &o->acme_renew_before_text, "acme-renew-before", "720h",
			"renew certificates this `duration` before they expire");
	sf_flags_string(&fs, &o->metrics_addr_text, "metrics-addr", "",
			"serve Prometheus metrics at http://`ADDR:PORT`/metrics (default: off)");
	sf_flags_string(&fs, &o->user, "user", "",
			"once listening, run as this `user` for good (needs root; docs/security.md)");
	sf_flags_bool(&fs, &o->seccomp, "seccomp", false,
		      "once listening, allow only the system calls the server needs (seccomp-bpf)");
	sf_flags_string(&fs, &o->memory_budget_text, "memory-budget", "",
			"hold at most this `size` for clients (bytes, or with KiB, MiB, GiB; default: "
			"half of the machine's or the cgroup's memory; docs/security.md)");
	int positional;
	char *end;
	switch (sf_flags_parse(&fs, argc - 1, argv + 1, &positional)) {
	case SF_FLAGS_OK:
		/* Go's flag.Uint and flag.Duration reject bad values while parsing: exit 2 too. */
		errno = 0;
		unsigned long port = strtoul(o->acme_http_port_text, &end, 10);
		if (errno || *end || !o->acme_http_port_text[0] || port > 65535) {
			fprintf(stderr, "invalid value \"%s\" for flag -acme-http-port: parse error\n",
				o->acme_http_port_text);
			usage(stderr, &fs, argv[0]);
			exit(2);
		}
		o->acme_http_port = (unsigned)port;
		if (sf_go_parse_duration(o->acme_renew_before_text, &o->acme_renew_before_ms) < 0) {
			fprintf(stderr, "invalid value \"%s\" for flag -acme-renew-before: parse error\n",
				o->acme_renew_before_text);
			usage(stderr, &fs, argv[0]);
			exit(2);
		}
		if (o->memory_budget_text[0]) {
			char why[SF_ERR_MAX];
			if (sf_parse_size(o->memory_budget_text, &o->memory_budget, why, sizeof why) < 0 ||
			    o->memory_budget == 0) {
				fprintf(stderr, "invalid value \"%s\" for flag -memory-budget: %s\n",
					o->memory_budget_text, o->memory_budget ? why : "must be more than 0");
				usage(stderr, &fs, argv[0]);
				exit(2);
			}
		}
		if (o->metrics_addr_text[0]) {
			char text[SF_PT_ADDR_TEXT_MAX], why[SF_ERR_MAX];
			if (sf_pt_resolve_addr(o->metrics_addr_text, &o->metrics_addr,
					       &o->metrics_addr_len, text, why, sizeof why) < 0) {
				fprintf(stderr, "invalid value \"%s\" for flag -metrics-addr: %s\n",
					o->metrics_addr_text, why);
				usage(stderr, &fs, argv[0]);
				exit(2);
			}
		}
		return;
	case SF_FLAGS_HELP:
		usage(stderr, &fs, argv[0]);
		exit(0);
	case SF_FLAGS_ERROR:
		fprintf(stderr, "%s\n", sf_flags_error(&fs));
		usage(stderr, &fs, argv[0]);
		exit(2);
	}
}

static void shutdown_app(struct app *app, const char *why)
{
	if (app->exit_reason)
		return;
	app->exit_reason = why;
	event_base_loopbreak(app->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct app *app = arg;
	/* Go prints a signal with its String(): "terminated", "interrupt". */
	sf_logf("caught signal \"%s\", exiting", sig == SIGTERM ? "terminated" : "interrupt");
	shutdown_app(app, "signal");
}

/* logrotate moves the file away, then SIGHUP: new lines go to a fresh file at the same path.
 * The certificate cache is re-read too: a certificate another instance renewed, or an operator
 * restored, goes into service without a restart. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct app *app = arg;
	if (!app->log_path[0]) {
		sf_logf("caught signal \"hangup\": logging to stderr, no log file to reopen");
	} else if (sf_log_reopen(app->log_path) < 0) {
		sf_logf("caught signal \"hangup\": can't reopen log file: open %s: %s; still "
			"logging to the old file", app->log_path, strerror(errno));
	} else {
		sf_logf("caught signal \"hangup\": reopened log file");
	}
	if (app->certs) {
		sf_logf("re-reading the TLS certificate cache");
		sf_certs_reload(app->certs);
	}
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct app *app = arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	sf_logf("synthesizing SIGTERM because of stdin close");
	sf_logf("caught signal \"terminated\", exiting");
	shutdown_app(app, "stdin closed");
}

/* Upstream's daily line; SIGUSR1 asks for it now (the period then restarts). */
static void on_stats(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct app *app = arg;
	uint64_t total = 0, with_addr = 0, now = sf_clock_ms();
	if (app->server)
		sf_server_take_stats(app->server, &total, &with_addr);
	sf_logf("in the past %.f s, %llu/%llu connections had client_ip",
		(double)(now - app->last_stats_ms) / 1000.0, (unsigned long long)with_addr,
		(unsigned long long)total);
	app->last_stats_ms = now;
	struct timeval day = { .tv_sec = STATS_INTERVAL_S };
	event_add(app->stats_ev, &day);
}

/* One bindaddr of our method: checks, listener, server. Returns NULL after printing
 * SMETHOD-ERROR; never exits (tor keeps the proxy for its other bindaddrs). */
static bool start_bindaddr(struct app *app, const struct options *o,
			   const struct sf_pt_server_info *info, const struct sf_pt_bindaddr *b)
{
	char err[512];
	if (!o->disable_tls && !app->http01) {
		/* HTTP-01 only works on port 80 of the same address; opened once, for the first
		 * bindaddr, and its failure is that bindaddr's SMETHOD-ERROR. */
		struct sockaddr_storage a80 = b->addr;
		if (a80.ss_family == AF_INET)
			((struct sockaddr_in *)&a80)->sin_port = htons((uint16_t)o->acme_http_port);
		else
			((struct sockaddr_in6 *)&a80)->sin6_port = htons((uint16_t)o->acme_http_port);
		sf_logf("Starting HTTP-01 ACME listener");
		int fd80 = sf_server_listen_socket((const struct sockaddr *)&a80, b->addrlen, err, sizeof err);
		if (fd80 >= 0)
			app->http01 = sf_certs_http01_new(app->certs, app->base, fd80);
		if (!app->http01) {
			if (fd80 >= 0)
				snprintf(err, sizeof err, "out of memory");
			sf_logf("error opening HTTP-01 ACME listener: %s", err);
			char msg[600];
			snprintf(msg, sizeof msg, "HTTP-01 ACME listener: %s", err);
			sf_pt_smethod_error(stdout, METHOD_NAME, msg);
			return false;
		}
	}
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&b->addr;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&b->addr;
	unsigned port = ntohs(b->addr.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	if (port == 0) {
		sf_pt_smethod_error(stdout, METHOD_NAME,
				    "cannot listen on port 0; configure a port using ServerTransportListenAddr");
		return false;
	}

	struct sf_server_config cfg = {
		.has_extorport = info->has_extorport,
		.extorport = info->extorport,
		.extorport_len = info->extorport_len,
		.cookie_path = info->auth_cookie_file,
		.has_orport = info->has_orport,
		.orport = info->orport,
		.orport_len = info->orport_len,
		.tls = app->certs ? sf_certs_tls(app->certs) : NULL,
		.certs = app->certs,
		.memory_budget = o->memory_budget,
	};
	/* parsed by the server, once: a bad one fails sf_server_new with "parsing srcaddr: ..." */
	cfg.orport_srcaddr = sf_pt_args_get(b->options, "orport-srcaddr");
	/* extorport=ADDR,COOKIEFILE, repeated: spread streams over several tor instances. */
	struct sf_server_extorport extorports[SF_SERVER_EXTORPORTS_MAX];
	const struct sf_pt_arg *ex = sf_pt_args_find(b->options, "extorport");
	for (size_t i = 0; ex && i < ex->n_values; i++) {
		if (i == SF_SERVER_EXTORPORTS_MAX ||
		    sf_pt_parse_extorport(ex->values[i], &extorports[i].addr, &extorports[i].addr_len,
					  &extorports[i].cookie_path, err, sizeof err) < 0) {
			char msg[600];
			if (i == SF_SERVER_EXTORPORTS_MAX)
				snprintf(err, sizeof err, "more than %d", SF_SERVER_EXTORPORTS_MAX);
			snprintf(msg, sizeof msg, "parsing extorport: %s", err);
			sf_pt_smethod_error(stdout, METHOD_NAME, msg);
			return false;
		}
		cfg.extorports = extorports;
		cfg.n_extorports = i + 1;
	}
	const char *nshards = sf_pt_args_get(b->options, "num-turbotunnel");
	if (nshards) {
		int n;
		if (sf_pt_parse_num_turbotunnel(nshards, &n, err, sizeof err) < 0) {
			char msg[600];
			snprintf(msg, sizeof msg, "parsing num-turbotunnel: %s", err);
			sf_pt_smethod_error(stdout, METHOD_NAME, msg);
			return false;
		}
		cfg.num_shards = (unsigned)n;
	}

	/* The server first: its configuration errors (srcaddr, cookie file) come before listening,
	 * as upstream parses its options before it listens. */
	if (!app->server) {
		app->server = sf_server_new(app->base, &cfg, err, sizeof err);
		if (!app->server) {
			sf_logf("%s", err);
			sf_pt_smethod_error(stdout, METHOD_NAME, err);
			return false;
		}
	}
	sf_logf("listening with %s on %s", o->disable_tls ? "plain HTTP" : "HTTPS", b->addr_text);
	int fd = sf_server_listen_socket((const struct sockaddr *)&b->addr, b->addrlen, err, sizeof err);
	if (fd < 0) {
		sf_logf("error opening listener: %s", err);
		sf_pt_smethod_error(stdout, METHOD_NAME, err);
		return false;
	}
	if (sf_server_add_listener(app->server, fd) < 0) {
		/* Never report SMETHOD for an address that nothing would serve. */
		close(fd);
		sf_logf("error opening listener: cannot serve %s", b->addr_text);
		sf_pt_smethod_error(stdout, METHOD_NAME, "cannot serve this address: out of memory");
		return false;
	}

	struct sf_pt_args *args = sf_pt_args_new();
	if (args && o->disable_tls) {
		sf_pt_args_add(args, "tls", "no");
	} else if (args) {
		sf_pt_args_add(args, "tls", "yes");
		for (size_t i = 0; i < app->n_hostnames; i++)
			sf_pt_args_add(args, "hostname", app->hostnames[i]);
	}
	sf_pt_smethod_args(stdout, METHOD_NAME, b->addr_text, args);
	sf_pt_args_free(args);
	return true;
}

/* --metrics-addr: the Prometheus endpoint, once the server runs (docs/metrics.md). A failure is
 * logged and the server runs on without it. */
static void start_metrics(struct app *app, const struct options *o)
{
	if (!o->metrics_addr_text[0])
		return;
	if (!app->server) {
		sf_logf("metrics: no server is running; not serving metrics");
		return;
	}
	char err[512];
	int fd = sf_server_listen_socket((const struct sockaddr *)&o->metrics_addr, o->metrics_addr_len, err,
			       sizeof err);
	if (fd >= 0 && sf_server_add_metrics_listener(app->server, fd) < 0) {
		close(fd);
		fd = -1;
		snprintf(err, sizeof err, "out of memory");
	}
	if (fd < 0)
		sf_logf("metrics: cannot listen on %s: %s", o->metrics_addr_text, err);
	else
		sf_logf("metrics: serving on %s", o->metrics_addr_text);
}

/* strings.Split(s, ","): no trimming, empty entries kept. */
static void split_hostnames(struct app *app, const char *s)
{
	app->hostnames_buf = strdup(s);
	char *p = app->hostnames_buf;
	while (p && app->n_hostnames < MAX_HOSTNAMES) {
		app->hostnames[app->n_hostnames++] = p;
		p = strchr(p, ',');
		if (p)
			*p++ = '\0';
	}
}

/* Step 6 of upstream's main: hostnames, certificate cache in the state dir, the manager. */
static int setup_tls(struct app *app, const struct options *o)
{
	split_hostnames(app, o->acme_hostnames);
	char list[4096];
	size_t off = 0;
	for (size_t i = 0; i < app->n_hostnames && off < sizeof list; i++)
		off += (size_t)snprintf(list + off, sizeof list - off, "%s\"%s\"", i ? " " : "",
					app->hostnames[i]);
	sf_logf("ACME hostnames: [%s]", list);

	char *state_dir = NULL, why[SF_ERR_MAX], *cache_dir = NULL;
	if (sf_pt_make_state_dir(sf_pt_process_getenv, NULL, stdout, &state_dir, why,
				 sizeof why) == 0) {
		cache_dir = sf_pt_path_join(state_dir, "snowflake-certificate-cache");
		sf_logf("caching ACME certificates in directory \"%s\"", cache_dir);
	} else {
		sf_logf("disabling ACME certificate cache: %s", why);
	}
	struct sf_certs_config cc = {
		.hostnames = app->hostnames,
		.n_hostnames = app->n_hostnames,
		.email = o->acme_email,
		.directory_url = o->acme_directory,
		.ca_file = o->acme_ca_file[0] ? o->acme_ca_file : NULL,
		.cache_dir = cache_dir,
		.renew_before_ms = o->acme_renew_before_ms,
		.http01 = true,
	};
	char err[512];
	app->certs = sf_certs_new(&cc, err, sizeof err);
	if (!app->certs)
		sf_logf("cannot set up ACME certificates: %s", err);
	free(state_dir);
	free(cache_dir);
	return app->certs ? 0 : -1;
}

/* As Go's runtime does at start: the soft descriptor limit up to the hard one, since every
 * WebSocket and every ORPort connection takes a descriptor. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		sf_logf("raised the open file limit from %llu to %llu", (unsigned long long)was,
			(unsigned long long)rl.rlim_max);
}

static void watch_process_events(struct app *app, bool exit_on_stdin_close)
{
	app->sigterm = evsignal_new(app->base, SIGTERM, on_signal, app);
	app->sigint = evsignal_new(app->base, SIGINT, on_signal, app);
	app->sigusr1 = evsignal_new(app->base, SIGUSR1, on_stats, app);
	app->sighup = evsignal_new(app->base, SIGHUP, on_sighup, app);
	evsignal_add(app->sigterm, NULL);
	evsignal_add(app->sigint, NULL);
	evsignal_add(app->sigusr1, NULL);
	evsignal_add(app->sighup, NULL);
	if (exit_on_stdin_close) {
		app->stdin_ev = event_new(app->base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, app);
		if (!app->stdin_ev || event_add(app->stdin_ev, NULL) < 0)
			sf_logf("cannot watch stdin for TOR_PT_EXIT_ON_STDIN_CLOSE");
	}
	struct timeval day = { .tv_sec = STATS_INTERVAL_S };
	app->last_stats_ms = sf_clock_ms();
	app->stats_ev = evtimer_new(app->base, on_stats, app);
	event_add(app->stats_ev, &day);
}

/* --user and --seccomp, once everything that needs root is open (listeners, the log file, the
 * certificate cache) and every thread runs; the user first: seccomp refuses setuid. */
static int enter_sandbox(const struct options *o)
{
	char err[512];
	if (o->user[0]) {
		if (sf_sandbox_drop_user(o->user, err, sizeof err) < 0) {
			sf_logf("cannot drop privileges: %s", err);
			return -1;
		}
		sf_logf("running as user %s", o->user);
	}
	if (o->seccomp) {
		if (sf_sandbox_seccomp(err, sizeof err) < 0) {
			sf_logf("cannot enter the seccomp sandbox: %s", err);
			return -1;
		}
		sf_logf("seccomp sandbox on: other system calls fail with EPERM");
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	parse_flags(argc, argv, &o);
	if (o.version) {
		fprintf(stderr, "snowflake-server %s\n", sf_version);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A reload (systemd's ExecReload) before the event loop watches SIGHUP must not kill us. */
	signal(SIGHUP, SIG_IGN);
	/* A relaying shard frees and reallocates megabytes at a time; glibc's default 128 KiB trim
	 * threshold hands them back to the kernel (madvise) after every burst and faults them in
	 * again for the next: 10 % of the CPU per GB relayed. Keep up to 8 MiB of free heap. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);

	int log_fd = STDERR_FILENO;
	if (o.log_path[0]) {
		log_fd = sf_log_open_file(o.log_path);
		if (log_fd < 0) {
			sf_logf("can't open log file: open %s: %s", o.log_path, strerror(errno));
			return 1;
		}
	}
	sf_log_setup(log_fd, !o.unsafe_logging);
	sf_logf("snowflake-server %s", sf_version);

	if (!o.disable_tls && !o.acme_hostnames[0]) {
		sf_logf("the --acme-hostnames option is required");
		return 1;
	}

	sf_logf("starting");
	raise_fd_limit();
	struct sf_pt_server_info info;
	if (sf_pt_server_setup(sf_pt_process_getenv, NULL, stdout, &info) < 0) {
		sf_logf("error in setup: see the ENV-ERROR line given to tor");
		return 1;
	}
	sf_pt_report_version(stdout, "snowflake-server", sf_version);

	struct app app = { .log_path = o.log_path };
	app.base = event_base_new();
	if (!app.base) {
		sf_logf("cannot create the event loop");
		return 1;
	}
	bool tls_ok = o.disable_tls || setup_tls(&app, &o) == 0;
	for (size_t i = 0; i < info.n_bindaddrs; i++) {
		const struct sf_pt_bindaddr *b = &info.bindaddrs[i];
		if (strcmp(b->method, METHOD_NAME) != 0) {
			sf_pt_smethod_error(stdout, b->method, "no such method");
			continue;
		}
		if (!tls_ok) {
			sf_pt_smethod_error(stdout, METHOD_NAME, "cannot set up ACME certificates");
			continue;
		}
		start_bindaddr(&app, &o, &info, b);
	}
	sf_pt_smethods_done(stdout);
	start_metrics(&app, &o);

	watch_process_events(&app, info.exit_on_stdin_close);
	int status = 0;
	if (enter_sandbox(&o) < 0) {
		status = 1;
		app.exit_reason = "sandbox";
	} else {
		event_base_dispatch(app.base);
	}

	/* tor sends SIGTERM, then its death sends another (PR_SET_PDEATHSIG): from here on both are
	 * ignored, or the default action would cut the clean shutdown short. Shard threads block
	 * every signal, so blocking here first leaves no moment with the default action. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGUSR1);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);

	if (app.server)
		sf_server_free(app.server);
	sf_http01_free(app.http01);
	sf_certs_free(app.certs);
	free(app.hostnames_buf);
	if (app.stdin_ev)
		event_free(app.stdin_ev);
	event_free(app.sigterm);
	event_free(app.sigint);
	event_free(app.sigusr1);
	event_free(app.sighup);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	event_free(app.stats_ev);
	event_base_free(app.base);
	sf_pt_server_info_free(&info);
	sf_logf("exited %s (%s)", status ? "with an error" : "cleanly",
		app.exit_reason ? app.exit_reason : "event loop ended");
	return status;
}
