/*
 * The agent's own metrics (docs/agent.md), in the Prometheus text format 0.0.4, on a local
 * address only: "unix:/abs/path" (a socket of mode 0600) or a loopback "host:port" (127.0.0.1,
 * [::1] or localhost). Each scrape is one HTTP/1.0 answer and the connection is closed; the
 * request is read for at most SCRAPE_MS and only its first line is looked at. The figures are
 * the agent's requests by verb and result, their latency, and the refused and malformed frames.
 * The store's own figures are `blockipamctl metrics`' (the CLI's objects are not linked here).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

#define SCRAPE_MS 500

static const char *const verb_names[AGENT_VERBS] = {"", "ADD", "DEL", "CHECK", "GC", "STATUS"};
static const double bounds[AGENT_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
					     0.05,   0.1,   0.25,  0.5,	  1,	2.5};

void agent_metrics_note(struct agent_metrics *m, enum bip_cni_cmd verb, int code, double seconds)
{
	struct agent_verb *v;

	if ((int)verb <= 0 || (int)verb >= AGENT_VERBS)
		return;
	v = &m->verb[verb];
	v->count[code == 0 ? 0 : 1]++;
	v->sum += seconds;
	for (int i = 0; i < AGENT_BUCKETS; i++)
		if (seconds <= bounds[i])
			v->bucket[i]++;
}

int agent_parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1]))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr,
			"blockipamd: --metrics 'unix:%s': the path must be absolute and "
			"shorter than %zu bytes\n",
			path, sizeof(sun.sun_path));
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
		fprintf(stderr, "blockipamd: --metrics 'unix:%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int agent_metrics_listen(const char *addr)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	const char *colon = strrchr(addr, ':');
	char host[64];
	size_t hl;
	unsigned port;
	socklen_t len;
	int fd, one = 1;

	if (strncmp(addr, "unix:", 5) == 0)
		return listen_unix(addr + 5);
	if (!colon || (hl = (size_t)(colon - addr)) == 0 || hl >= sizeof(host) ||
	    agent_parse_uint(colon + 1, 65535, &port) || port == 0) {
		fprintf(
		    stderr,
		    "blockipamd: --metrics '%s': not unix:/PATH nor a loopback HOST:PORT with a "
		    "port of 1-65535\n",
		    addr);
		return -1;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in4);
	} else if (strcmp(host, "[::1]") == 0) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	} else {
		fprintf(stderr,
			"blockipamd: --metrics '%s': host '%s' is not loopback (127.0.0.1, [::1], "
			"localhost)\n",
			addr, host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
		fprintf(stderr, "blockipamd: --metrics '%s': %s\n", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void text(FILE *f, const struct agent_metrics *m)
{
	fputs("# HELP blockipamd_requests_total Requests the agent answered, by verb and result.\n"
	      "# TYPE blockipamd_requests_total counter\n",
	      f);
	for (int v = 1; v < AGENT_VERBS; v++)
		fprintf(f,
			"blockipamd_requests_total{verb=\"%s\",result=\"ok\"} %llu\n"
			"blockipamd_requests_total{verb=\"%s\",result=\"error\"} %llu\n",
			verb_names[v], m->verb[v].count[0], verb_names[v], m->verb[v].count[1]);
	fputs("# HELP blockipamd_request_duration_seconds Time from a whole request read to its "
	      "answer made, by verb.\n"
	      "# TYPE blockipamd_request_duration_seconds histogram\n",
	      f);
	for (int v = 1; v < AGENT_VERBS; v++) {
		const struct agent_verb *x = &m->verb[v];

		for (int i = 0; i < AGENT_BUCKETS; i++)
			fprintf(f,
				"blockipamd_request_duration_seconds_bucket{verb=\"%s\",le=\"%g\"} "
				"%llu\n",
				verb_names[v], bounds[i], x->bucket[i]);
		fprintf(f,
			"blockipamd_request_duration_seconds_bucket{verb=\"%s\",le=\"+Inf\"} %llu\n"
			"blockipamd_request_duration_seconds_sum{verb=\"%s\"} %.6f\n"
			"blockipamd_request_duration_seconds_count{verb=\"%s\"} %llu\n",
			verb_names[v], x->count[0] + x->count[1], verb_names[v], x->sum,
			verb_names[v], x->count[0] + x->count[1]);
	}
	fprintf(
	    f,
	    "# HELP blockipamd_refused_peers_total Connections refused for their peer's uid.\n"
	    "# TYPE blockipamd_refused_peers_total counter\n"
	    "blockipamd_refused_peers_total %llu\n"
	    "# HELP blockipamd_malformed_requests_total Requests refused as malformed, "
	    "oversized or late.\n"
	    "# TYPE blockipamd_malformed_requests_total counter\n"
	    "blockipamd_malformed_requests_total %llu\n"
	    "# HELP blockipamd_store_reopens_total Times the kept store was opened again after a "
	    "failed request.\n"
	    "# TYPE blockipamd_store_reopens_total counter\n"
	    "blockipamd_store_reopens_total %llu\n"
	    "# HELP blockipamd_released_blocks_total Empty blocks the agent gave back to their "
	    "pools.\n"
	    "# TYPE blockipamd_released_blocks_total counter\n"
	    "blockipamd_released_blocks_total %llu\n",
	    m->refused, m->malformed, m->reopens, m->released_blocks);
}

void agent_metrics_serve(int lfd, const struct agent_metrics *m)
{
	long long deadline = bip_cni_now_ms() + SCRAPE_MS;
	char req[1024], *body = NULL, hdr[160];
	size_t n = 0, blen = 0;
	FILE *f;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	bool get;

	if (fd < 0)
		return;
	/* the request line and headers, up to the blank line (or what fits) */
	while (n < sizeof(req) - 1 && !memmem(req, n, "\r\n\r\n", 4) &&
	       bip_cni_io_full(fd, req + n, 1, false, deadline) == 0)
		n++;
	get = n >= 4 && memcmp(req, "GET ", 4) == 0;
	if (!(f = open_memstream(&body, &blen)))
		goto out;
	if (get)
		text(f, m);
	else
		fputs("only GET is served\n", f);
	if (fclose(f) != 0)
		goto out;
	snprintf(hdr, sizeof(hdr),
		 "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 get ? "200 OK" : "405 Method Not Allowed", blen);
	if (bip_cni_io_full(fd, hdr, strlen(hdr), true, deadline) == 0)
		bip_cni_io_full(fd, body, blen, true, deadline);
out:
	free(body);
	close(fd);
}
