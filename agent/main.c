/*
 * blockipamd, the optional node agent (docs/agent.md). It listens on a Unix socket that only
 * root and its own uid may use (0600 in a 0700 directory, and SO_PEERCRED on every
 * connection), reads one request frame (cni/wire.c, at most BIP_WIRE_MAX bytes), validates it
 * and serves it with the plugin's own code path, bip_cni_run, in process: the same env
 * checks, config checks and store transactions as an exec'd plugin, so the answer is byte for
 * byte the one the plugin would have printed. It never runs another program.
 *
 * Requests are served one at a time (the store's node lock serialises a node's requests
 * anyway). SIGTERM and SIGINT are only looked at between requests, so the one in flight is
 * finished and answered before the agent exits 0. Readiness goes to $NOTIFY_SOCKET (READY=1)
 * once the socket listens.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* how long a client may take to send its request */
#define READ_MS 2000

static volatile sig_atomic_t stopping;

/* what the agent logs when it stops */
struct stats {
	unsigned long long served, refused, malformed;
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fputs("usage: blockipamd --store ADDR --node NAME [--socket PATH] [--metrics ADDR]\n"
	      "                  [--release-empty-blocks SECONDS]\n",
	      f);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)], *slash;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "blockipamd: socket path '%s' too long\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "blockipamd: cannot create '%s': %s\n", dir,
				strerror(errno));
			return -1;
		}
		/* an existing directory must be ours and closed to others */
		if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & 077)) {
			fprintf(stderr,
				"blockipamd: '%s' must be a directory of uid %u, mode 0700 or "
				"stricter\n",
				dir, (unsigned)geteuid());
			return -1;
		}
	}
	/* a socket left by an agent that died: nobody listens on it any more */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	umask(077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, 128) != 0) {
		fprintf(stderr, "blockipamd: cannot listen on '%s': %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* READY=1 to $NOTIFY_SOCKET (a path, or @ for the abstract namespace), as sd_notify does. */
static void notify_ready(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (!p || !*p || strlen(p) >= sizeof(sun.sun_path))
		return;
	strcpy(sun.sun_path, p);
	if (p[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sun, len) != 7)
		fprintf(stderr, "blockipamd: cannot notify '%s': %s\n", p, strerror(errno));
	close(fd);
}

static int peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* Run the request as the plugin would, capturing its stdout; the answer frame in *frame. */
static int serve(const struct bip_cni_wire_req *req, struct bip_cni_store *sh, uint8_t **frame,
		 size_t *flen, int *code)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *in = NULL, *o = open_memstream(&out, &outlen);
	struct bip_cni_io io = {.env = req->env, .shared = sh};
	int rc = 1, ret = -1;

	if (!o)
		goto out;
	/* an empty stdin: a stream at its end (fmemopen refuses size 0) */
	in = req->inlen ? fmemopen((void *)req->in, req->inlen, "r") : fopen("/dev/null", "r");
	if (!in)
		goto out;
	io.in = in;
	io.out = o;
	rc = bip_cni_run(&io);
	*code = rc;
	if (fclose(o) != 0) {
		o = NULL;
		goto out;
	}
	o = NULL;
	ret = bip_cni_wire_ans_encode(rc, out, outlen, "", 0, frame, flen);
out:
	if (o)
		fclose(o);
	if (in)
		fclose(in);
	free(out);
	return ret;
}

/*
 * The store kept open across requests (struct bip_cni_store): opened at start, and again before
 * a request after one that failed on it, so that an etcd that went away and came back, or a
 * reopened SQLite file, is picked up. A store that cannot be opened is logged once per attempt;
 * the requests meanwhile open their own, as the plugin does, and say why they cannot.
 */
static void store_ready(struct bip_cni_store *sh, unsigned long long *reopens)
{
	struct bip_store_opts opts = {.node = sh->node};
	char msg[256] = "";
	int rc;

	if (sh->store && !sh->stale)
		return;
	if (sh->store) {
		fprintf(stderr, "blockipamd: reopening store %s after a failed request\n",
			sh->addr);
		bip_store_close(sh->store);
		sh->store = NULL;
		if (reopens)
			(*reopens)++;
	}
	sh->stale = false;
	rc = bip_store_open(sh->addr, &opts, &sh->store, msg, sizeof(msg));
	if (rc != BIP_OK) {
		fprintf(stderr, "blockipamd: cannot open store '%s': %s\n", sh->addr,
			*msg ? msg : bip_strerror(rc));
		sh->store = NULL;
	}
}

/*
 * --release-empty-blocks SECONDS: every SECONDS, between requests, give back the blocks that have
 * been empty for the store's emptyBlockReleaseSeconds (0 there: never), as blockipamctl gc does,
 * on the kept store. The library conditions each deletion on the block being as read, so a block
 * that took an address meanwhile stays; a failure is logged and the store reopened next time.
 */
static void release_empty(struct bip_cni_store *sh, struct agent_metrics *m)
{
	struct bip_ipam *ipam = NULL;
	struct bip_config cfg = {0};
	size_t deleted = 0;
	int rc;

	store_ready(sh, &m->reopens);
	if (!sh->store)
		return;
	rc = bip_ipam_new(sh->store, &ipam);
	if (rc == BIP_OK)
		rc = bip_ipam_config_get(ipam, &cfg);
	if (rc == BIP_OK && cfg.empty_block_release_s)
		rc = bip_ipam_release_empty_blocks(ipam, cfg.empty_block_release_s, &deleted);
	if (rc != BIP_OK) {
		fprintf(stderr, "blockipamd: releasing empty blocks: %s%s%s\n", bip_strerror(rc),
			ipam && *bip_ipam_errmsg(ipam) ? ": " : "",
			ipam ? bip_ipam_errmsg(ipam) : "");
		sh->stale = true;
	} else if (deleted) {
		fprintf(stderr, "blockipamd: released %zu empty block%s\n", deleted,
			deleted == 1 ? "" : "s");
		m->released_blocks += deleted;
	}
	bip_ipam_free(ipam);
}

static void handle(int fd, struct bip_cni_store *sh, struct stats *st, struct agent_metrics *m)
{
	long long deadline = bip_cni_now_ms() + READ_MS;
	struct bip_cni_wire_req req;
	uint8_t hdr[4], *body = NULL, *ans = NULL;
	size_t alen;
	uint32_t blen;
	char why[128];
	long long t0;
	int code = 1;

	if (!peer_ok(fd)) {
		fprintf(stderr, "blockipamd: refused a peer that is neither root nor uid %u\n",
			(unsigned)geteuid());
		st->refused++;
		m->refused++;
		return;
	}
	if (bip_cni_io_full(fd, hdr, 4, false, deadline)) {
		st->malformed++;
		m->malformed++;
		return;
	}
	blen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (blen > BIP_WIRE_MAX - 4) {
		fprintf(stderr, "blockipamd: refused a %u-byte request (at most %u)\n", blen,
			BIP_WIRE_MAX - 4);
		st->malformed++;
		m->malformed++;
		return;
	}
	if (!(body = malloc(blen ? blen : 1)) || bip_cni_io_full(fd, body, blen, false, deadline)) {
		st->malformed++;
		m->malformed++;
		goto out;
	}
	if (bip_cni_wire_req_decode(body, blen, &req, why, sizeof(why))) {
		fprintf(stderr, "blockipamd: refused a request: %s\n", why);
		st->malformed++;
		m->malformed++;
		goto out;
	}
	t0 = now_us();
	store_ready(sh, &m->reopens);
	if (serve(&req, sh, &ans, &alen, &code) == 0) {
		agent_metrics_note(m, req.verb, code, (double)(now_us() - t0) / 1e6);
		/* the client waits BIP_AGENT_ANSWER_MS at most; give the send as long */
		bip_cni_io_full(fd, ans, alen, true, bip_cni_now_ms() + BIP_AGENT_ANSWER_MS);
		st->served++;
	}
	bip_cni_wire_req_free(&req);
out:
	free(ans);
	free(body);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"node", required_argument, NULL, 'n'},
	    {"socket", required_argument, NULL, 'S'},
	    {"metrics", required_argument, NULL, 'm'},
	    {"release-empty-blocks", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *store = NULL, *node = NULL, *path = BIP_AGENT_SOCKET, *metrics = NULL;
	struct stats st = {0};
	struct sigaction sa = {.sa_handler = on_stop};
	sigset_t block, open_mask;
	struct bip_cni_store sh = {0};
	char why[256];
	struct agent_metrics m = {0};
	unsigned every = 0;
	long long next_release = 0;
	int c, lfd = -1, mfd = -1, ret = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			store = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'S':
			path = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'r':
			if (agent_parse_uint(optarg, 86400, &every)) {
				fprintf(stderr,
					"blockipamd: --release-empty-blocks '%s': not a number of "
					"seconds from 0 to 86400\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !store || !node || !*store || !*node) {
		usage(stderr);
		return 2;
	}
	if (bip_store_addr_check(store, why, sizeof(why)) != BIP_OK) {
		fprintf(stderr, "blockipamd: --store: %s\n", why);
		return 2;
	}
	if (metrics && (mfd = agent_metrics_listen(metrics)) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* the stop signals are taken only inside ppoll, between requests */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &open_mask);
	if ((lfd = listen_on(path)) < 0)
		goto out;
	sh.addr = store;
	sh.node = node;
	store_ready(&sh, NULL); /* a store not reachable yet is opened again at the first request */
	fprintf(stderr, "blockipamd: node %s, store %s (%s), listening on %s\n", node, store,
		sh.store ? "open" : "not open yet", path);
	notify_ready();
	while (!stopping) {
		struct pollfd pfd[2] = {{.fd = lfd, .events = POLLIN},
					{.fd = mfd, .events = POLLIN}};
		struct timespec wait, *tmo = NULL;
		int fd, n;

		if (every) {
			long long left = next_release - bip_cni_now_ms();

			if (left <= 0) {
				release_empty(&sh, &m);
				next_release = bip_cni_now_ms() + 1000LL * every;
				left = 1000LL * every;
			}
			wait = (struct timespec){left / 1000, (left % 1000) * 1000000};
			tmo = &wait;
		}
		n = ppoll(pfd, mfd >= 0 ? 2 : 1, tmo, &open_mask);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "blockipamd: poll: %s\n", strerror(errno));
			goto out;
		}
		if (mfd >= 0 && (pfd[1].revents & POLLIN))
			agent_metrics_serve(mfd, &m);
		if (pfd[0].revents & POLLIN) {
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0) {
				handle(fd, &sh, &st, &m);
				close(fd);
			}
		}
	}
	fprintf(stderr,
		"blockipamd: stopping: %llu served (%llu on the kept store), %llu refused, %llu "
		"malformed\n",
		st.served, sh.used, st.refused, st.malformed);
	ret = 0;
out:
	if (lfd >= 0) {
		close(lfd);
		unlink(path);
	}
	if (mfd >= 0) {
		close(mfd);
		if (strncmp(metrics, "unix:", 5) == 0)
			unlink(metrics + 5);
	}
	bip_store_close(sh.store);
	return ret;
}
