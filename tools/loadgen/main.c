/* snowflake-loadgen: command line, the run, the JSON result. See README.md. */
#include "lg.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "kcp/kcp.h"
#include "smux/smux.h"

#define TICK_MS 10

static void usage(void)
{
	fprintf(stderr,
		"usage: snowflake-loadgen bulk|ping|idle|setup --url ws[s]://HOST[:PORT]/PATH [options]\n"
		"  --connect HOST:PORT   TCP goes there (the URL still gives Host and SNI)\n"
		"  --ca FILE             wss://: verify the server against these CAs (default: no check)\n"
		"  --source A[-B][,C..]  local IPv4 addresses to spread the sessions over\n"
		"  --sessions N (1)  --streams M (1)  --bytes B (bulk, 1000000)  --write-size W (16384)\n"
		"  --ramp R              sessions started per second (default 1000; 0: all at once)\n"
		"  --duration S          ping: how long; idle: the hold (default 10)\n"
		"  --interval S (1)  --ping-size B (1024)  --active K (idle: streams pinging in the hold)\n"
		"  --ping-delay S        idle: the pings start S seconds into the hold (default 0)\n"
		"  --keepalive MS        smux NOP period of every session (default 10000, the Go\n"
		"                        client's; less makes N sessions send what more would)\n"
		"  --timeout S (120)  --ready-file FILE (idle: created when all are up)\n"
		"  --corrupt-at N        test: flip a bit of byte N of the first stream when sending\n");
	exit(2);
}

static int parse_url(struct lg_opts *o)
{
	const char *u = o->url, *rest;
	if (!strncmp(u, "ws://", 5)) {
		rest = u + 5;
	} else if (!strncmp(u, "wss://", 6)) {
		rest = u + 6;
		o->tls = true;
	} else {
		return -1;
	}
	const char *slash = strchr(rest, '/');
	size_t hostport_len = slash ? (size_t)(slash - rest) : strlen(rest);
	char hostport[256];
	if (hostport_len == 0 || hostport_len >= sizeof hostport)
		return -1;
	memcpy(hostport, rest, hostport_len);
	hostport[hostport_len] = 0;
	snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/");
	char *colon = strrchr(hostport, ':');
	if (colon && !strchr(colon, ']')) {
		*colon = 0;
		snprintf(o->host, sizeof o->host, "%s", hostport);
		if (!o->connect[0])
			snprintf(o->connect, sizeof o->connect, "%s:%s", hostport, colon + 1);
	} else {
		snprintf(o->host, sizeof o->host, "%s", hostport);
		if (!o->connect[0])
			snprintf(o->connect, sizeof o->connect, "%s:%s", hostport, o->tls ? "443" : "80");
	}
	return 0;
}

static int resolve(struct lg *lg)
{
	char h[320];
	snprintf(h, sizeof h, "%s", lg->o.connect);
	char *colon = strrchr(h, ':');
	if (!colon)
		return -1;
	*colon = 0;
	char *host = h;
	if (host[0] == '[') {
		host++;
		host[strlen(host) - 1] = 0;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	memcpy(&lg->dst, ai->ai_addr, ai->ai_addrlen);
	lg->dst_len = (unsigned)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* "127.0.0.2-127.0.0.9,127.0.1.1" */
static int parse_sources(struct lg_opts *o, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		if (dash)
			*dash = 0;
		struct in_addr a, b;
		if (inet_pton(AF_INET, tok, &a) != 1 || (dash && inet_pton(AF_INET, dash + 1, &b) != 1))
			goto bad;
		uint32_t lo = ntohl(a.s_addr), hi = dash ? ntohl(b.s_addr) : lo;
		if (hi < lo || hi - lo > 65535)
			goto bad;
		for (uint64_t x = lo; x <= hi; x++) {
			struct in_addr *v = realloc(o->sources, (o->nsources + 1) * sizeof *v);
			if (!v)
				goto bad;
			o->sources = v;
			o->sources[o->nsources++].s_addr = htonl((uint32_t)x);
		}
	}
	free(copy);
	return 0;
bad:
	free(copy);
	return -1;
}

static void parse(struct lg_opts *o, int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1];
	if (!strcmp(mode, "bulk"))
		o->mode = LG_BULK;
	else if (!strcmp(mode, "ping"))
		o->mode = LG_PING;
	else if (!strcmp(mode, "idle"))
		o->mode = LG_IDLE;
	else if (!strcmp(mode, "setup"))
		o->mode = LG_SETUP;
	else
		usage();
	*o = (struct lg_opts){ .mode = o->mode, .sessions = 1, .streams = 1, .bytes = 1000000,
			       .write_size = 16384, .ramp = 1000, .duration_s = 10, .interval_s = 1,
			       .ping_size = 1024, .active = UINT32_MAX, .timeout_s = 120,
			       .corrupt_at = -1, .keepalive_ms = SF_SMUX_KEEPALIVE_INTERVAL_MS };
	static const struct option longopts[] = {
		{ "url", 1, 0, 'u' }, { "connect", 1, 0, 'c' }, { "ca", 1, 0, 'C' },
		{ "source", 1, 0, 'S' }, { "sessions", 1, 0, 'n' }, { "streams", 1, 0, 'm' },
		{ "bytes", 1, 0, 'b' }, { "write-size", 1, 0, 'w' }, { "ramp", 1, 0, 'r' },
		{ "duration", 1, 0, 'd' }, { "interval", 1, 0, 'i' }, { "ping-size", 1, 0, 'p' },
		{ "active", 1, 0, 'a' }, { "timeout", 1, 0, 't' }, { "ready-file", 1, 0, 'R' },
		{ "corrupt-at", 1, 0, 'x' }, { "ping-delay", 1, 0, 'D' }, { "keepalive", 1, 0, 'K' },
		{ 0, 0, 0, 0 },
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o->url = optarg; break;
		case 'c': snprintf(o->connect, sizeof o->connect, "%s", optarg); break;
		case 'C': o->ca_file = optarg; break;
		case 'S': if (parse_sources(o, optarg) < 0) usage(); break;
		case 'n': o->sessions = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'm': o->streams = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': o->bytes = strtoull(optarg, NULL, 10); break;
		case 'w': o->write_size = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': o->ramp = strtod(optarg, NULL); break;
		case 'd': o->duration_s = strtod(optarg, NULL); break;
		case 'i': o->interval_s = strtod(optarg, NULL); break;
		case 'p': o->ping_size = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'a': o->active = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't': o->timeout_s = strtod(optarg, NULL); break;
		case 'R': o->ready_file = optarg; break;
		case 'x': o->corrupt_at = strtoll(optarg, NULL, 10); break;
		case 'D': o->ping_delay_s = strtod(optarg, NULL); break;
		case 'K': o->keepalive_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!o->url || parse_url(o) < 0 || !o->sessions || !o->streams || o->streams > 1024 ||
	    !o->write_size || o->write_size > 65536 || o->ramp < 0 || o->timeout_s <= 0 ||
	    o->ping_delay_s < 0 || !o->ping_size || o->interval_s <= 0 ||
	    o->keepalive_ms < 2 * TICK_MS || o->keepalive_ms > 3600000)
		usage();
	if (o->mode == LG_PING || o->active == UINT32_MAX)
		o->active = o->mode == LG_PING ? UINT32_MAX : 0;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lg *lg = arg;
	uint64_t now = lg_now_ms();
	if (lg->started < lg->o.sessions) {
		uint32_t n = lg->o.sessions - lg->started;
		if (lg->o.ramp > 0) {
			lg->ramp_credit += lg->o.ramp * TICK_MS / 1000.0;
			if (lg->ramp_credit < n)
				n = (uint32_t)lg->ramp_credit;
			lg->ramp_credit -= n;
		}
		while (n--)
			lg_conn_start(&lg->sess[lg->started++]);
	}
	lg_dirty_tick(lg, now);
	lg_keepalive_tick(lg, now);
	lg_work_tick(lg, now);
	if (lg->started == lg->o.sessions && lg->finished == lg->o.sessions)
		event_base_loopbreak(lg->base);
	if (lg_now_us() - lg->t0 > (uint64_t)(lg->o.timeout_s * 1e6)) {
		lg->timed_out = true;
		event_base_loopbreak(lg->base);
	}
}

static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t k = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, k))
			v = strtol(line + k, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static const char *mode_name(enum lg_mode m)
{
	return m == LG_BULK ? "bulk" : m == LG_PING ? "ping" : m == LG_IDLE ? "idle" : "setup";
}

static int report(struct lg *lg)
{
	struct lg_counters *c = &lg->c;
	uint64_t sessions_ok = 0, streams_ok = 0, streams_failed = 0;
	for (uint32_t i = 0; i < lg->o.sessions; i++) {
		struct lg_session *s = &lg->sess[i];
		bool ok = s->state == LG_S_DONE;
		for (uint32_t j = 0; j < s->nstreams && s->streams; j++) {
			bool sok = s->streams[j].done && !s->streams[j].failed;
			streams_ok += sok;
			ok = ok && sok;
		}
		if (!s->streams)
			ok = false;
		sessions_ok += ok;
		if (!ok && s->state != LG_S_FAILED)
			c->err_unfinished++;
	}
	streams_failed = (uint64_t)lg->o.sessions * lg->o.streams - streams_ok;
	/* the client side's KCP: resends mean packets were lost or held past the RTO somewhere */
	uint64_t rto = 0, early = 0, max_xmit = 0;
	for (uint32_t i = 0; i < lg->o.sessions; i++) {
		if (!lg->sess[i].kcp)
			continue;
		const struct sf_kcp_stats *st = sf_kcp_stats(lg->sess[i].kcp);
		rto += st->retrans_rto;
		early += st->retrans_early;
		if (st->max_xmit > max_xmit)
			max_xmit = st->max_xmit;
	}
	double elapsed = (double)(lg_now_us() - lg->t0) / 1e6;
	double transfer = lg->t_transfer1 > lg->t_transfer0 ?
		(double)(lg->t_transfer1 - lg->t_transfer0) / 1e6 : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	char setup[256], wsc[256], lat[256];
	lg_samples_json(&lg->setup, setup, sizeof setup);
	lg_samples_json(&lg->ws_connect, wsc, sizeof wsc);
	lg_samples_json(&lg->latency, lat, sizeof lat);
	bool ok = sessions_ok == lg->o.sessions && !c->verify_failures && !lg->timed_out &&
		  c->pings_ok == c->pings_sent;
	printf("{\"mode\":\"%s\",\"url\":\"%s\",\"sessions\":%u,\"streams_per_session\":%u,"
	       "\"keepalive_ms\":%u,\"sessions_ok\":%llu,\"sessions_failed\":%llu,\"streams_ok\":%llu,"
	       "\"streams_failed\":%llu,\"bytes_sent\":%llu,\"bytes_verified\":%llu,"
	       "\"verify_failures\":%llu,\"elapsed_s\":%.3f,\"transfer_s\":%.3f,\"mb_per_s\":%.3f,"
	       "\"setup_ms\":%s,\"ws_connect_ms\":%s,\"latency_ms\":%s,\"timed_out\":%s,",
	       mode_name(lg->o.mode), lg->o.url, lg->o.sessions, lg->o.streams, lg->o.keepalive_ms,
	       (unsigned long long)sessions_ok, (unsigned long long)(lg->o.sessions - sessions_ok),
	       (unsigned long long)streams_ok, (unsigned long long)streams_failed,
	       (unsigned long long)c->bytes_sent, (unsigned long long)c->bytes_verified,
	       (unsigned long long)c->verify_failures, elapsed, transfer,
	       transfer > 0 ? (double)c->bytes_verified / transfer / 1e6 : 0.0, setup, wsc, lat,
	       lg->timed_out ? "true" : "false");
	printf("\"errors\":{\"dial\":%llu,\"upgrade\":%llu,\"ws\":%llu,\"turbotunnel\":%llu,"
	       "\"smux\":%llu,\"read_eof\":%llu,\"verify_mismatch\":%llu,\"stream_fin\":%llu,"
	       "\"alloc\":%llu,\"unfinished_session\":%llu},",
	       (unsigned long long)c->err_dial, (unsigned long long)c->err_upgrade,
	       (unsigned long long)c->err_ws, (unsigned long long)c->err_tt,
	       (unsigned long long)c->err_smux, (unsigned long long)c->err_eof,
	       (unsigned long long)c->err_verify, (unsigned long long)c->err_stream_fin,
	       (unsigned long long)c->err_alloc, (unsigned long long)c->err_unfinished);
	printf("\"wire\":{\"msgs_out\":%llu,\"bytes_out\":%llu,\"msgs_in\":%llu,\"bytes_in\":%llu,"
	       "\"pkts_out\":%llu,\"pkts_in\":%llu},\"kcp_client\":{\"kcp_in_errors\":%llu,"
	       "\"retrans_rto\":%llu,\"retrans_early\":%llu,\"max_xmit\":%llu},"
	       "\"pings\":{\"sent\":%llu,\"ok\":%llu,\"late_ticks\":%llu},"
	       "\"idle\":{\"established\":%llu,\"setup_s\":%.3f},"
	       "\"loadgen\":{\"cpu_s\":%.3f,\"rss_kb\":%ld,\"hwm_kb\":%ld,\"fds_max\":%llu}}\n",
	       (unsigned long long)c->msgs_out, (unsigned long long)c->bytes_out,
	       (unsigned long long)c->msgs_in, (unsigned long long)c->bytes_in,
	       (unsigned long long)c->pkts_out, (unsigned long long)c->pkts_in,
	       (unsigned long long)c->kcp_in_errors, (unsigned long long)rto,
	       (unsigned long long)early, (unsigned long long)max_xmit,
	       (unsigned long long)c->pings_sent,
	       (unsigned long long)c->pings_ok, (unsigned long long)c->late_ticks,
	       (unsigned long long)c->established,
	       lg->t_all_up ? (double)(lg->t_all_up - lg->t0) / 1e6 : 0.0, cpu,
	       status_kb("VmRSS:"), status_kb("VmHWM:"), (unsigned long long)c->fds_max);
	fflush(stdout);
	fprintf(stderr, "loadgen %s: sessions %llu/%u ok, streams %llu/%llu ok, %llu bytes verified, "
		"%llu verify failures, setup p50 %.1f ms, ping p50 %.2f p99 %.2f ms -- %s\n",
		mode_name(lg->o.mode), (unsigned long long)sessions_ok, lg->o.sessions,
		(unsigned long long)streams_ok, (unsigned long long)(streams_ok + streams_failed),
		(unsigned long long)c->bytes_verified, (unsigned long long)c->verify_failures,
		lg_samples_pct(&lg->setup, 50), lg_samples_pct(&lg->latency, 50),
		lg_samples_pct(&lg->latency, 99), ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static struct lg lg;
	parse(&lg.o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	/* one descriptor per session: take the whole hard limit */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrandom(&lg.rng, sizeof lg.rng, 0) != sizeof lg.rng || !lg.rng)
		lg.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)lg_now_us();
	lg_pattern_init(&lg);
	if (resolve(&lg) < 0) {
		fprintf(stderr, "loadgen: cannot resolve %s\n", lg.o.connect);
		return 2;
	}
	if (lg_conn_ssl_init(&lg) < 0)
		return 2;
	lg.sess = calloc(lg.o.sessions, sizeof *lg.sess);
	lg.base = event_base_new();
	if (!lg.sess || !lg.base)
		return 1;
	for (uint32_t i = 0; i < lg.o.sessions; i++) {
		lg.sess[i].lg = &lg;
		lg.sess[i].idx = i;
	}
	lg.t0 = lg_now_us();
	lg.tick = event_new(lg.base, -1, EV_PERSIST, tick_cb, &lg);
	struct timeval tv = { 0, TICK_MS * 1000 };
	event_add(lg.tick, &tv);
	event_base_dispatch(lg.base);
	int rc = report(&lg);
	for (uint32_t i = 0; i < lg.o.sessions; i++)
		lg_stack_free(&lg.sess[i]);
	event_free(lg.tick);
	event_base_free(lg.base);
	SSL_CTX_free(lg.ssl);
	free(lg.sess);
	free(lg.o.sources);
	free(lg.setup.v);
	free(lg.ws_connect.v);
	free(lg.latency.v);
	return rc;
}
