/*
 * The etcd backend beyond the conformance suite (tests/test_store.c): addresses, time budgets,
 * fail-over, retries and what is NOT retried, against fake servers made here (refusing,
 * silent, answering 503, answering garbage) and against real etcd servers that tests/etcd.sh
 * starts and describes in the environment:
 *
 *   BIP_TEST_ETCD            etcd://127.0.0.1:PORT            reuse, fail-over, prefixes
 *   BIP_TEST_ETCD_PID        its pid, for test_etcd_server_stopped (which stops it: run alone)
 *   BIP_TEST_ETCD_CLUSTER    etcd://3 endpoints               CAS loop while members die
 *   BIP_TEST_ETCD_TLS        etcds://127.0.0.1:PORT           mutual TLS
 *   BIP_TEST_ETCD_CERTS      directory of the certificates etcd.sh made
 *   BIP_TEST_ETCD_WRONGHOST  etcds:// of a TLS server whose certificate names another host
 *
 * A test whose variable is unset skips loudly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../store/etcd/etcd.h"
#include "blockipam/err.h"
#include "blockipam/ipam.h"
#include "blockipam/store.h"
#include "t.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static struct bip_store *open_store(const char *addr, const struct bip_store_opts *opts)
{
	struct bip_store *s = NULL;
	char err[256] = "";
	int rc = bip_store_open(addr, opts, &s, err, sizeof(err));

	T_CHECK(rc == BIP_OK, "open %s: %s: %s", addr, bip_errname(rc), err);
	return s;
}

static int put(struct bip_store *s, const char *key, const char *value)
{
	struct bip_op op = {BIP_OP_PUT, key, value, strlen(value)};

	return bip_store_txn(s, NULL, 0, &op, 1, NULL);
}

static const char *need_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* A unique key prefix per run. */
static void run_prefix(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/blockipam-test/%s-%ld-%ld/", what, (long)getpid(), (long)time(NULL));
}

/* --- addresses ------------------------------------------------------------------------ */

static void test_etcd_addresses(void)
{
	static const char *const bad[] = {
	    "etcd://",	       "etcd://h:",
	    "etcd://h:0",      "etcd://h:65536",
	    "etcd://h:02379",  "etcd://h:23x",
	    "etcd://[::1",     "etcd://[::1]x",
	    "etcd://[]:2379",  "etcd://::1:2379",
	    "etcd://a:1,,b:2", "etcd://a:1,",
	    "etcd://h:1/v3",   "etcd://user@h:1",
	    "etcd://h p:1",    "etcd://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
	};
	static const char *const good[] = {
	    "etcd://127.0.0.1:2379",
	    "etcd://[::1]:2379,localhost,etcd-0.etcd.svc:32379",
	    "etcd://h",
	    "etcd://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p",
	};

	for (size_t i = 0; i < LEN(bad); i++) {
		struct bip_store *s = (struct bip_store *)&s;
		char err[256] = "";
		int rc = bip_store_open(bad[i], NULL, &s, err, sizeof(err));

		T_CHECK(rc == BIP_EINVAL && !s && strstr(err, "endpoint"), "'%s': %s: %s", bad[i],
			bip_errname(rc), err);
	}
	for (size_t i = 0; i < LEN(good); i++) {
		struct bip_store *s = open_store(good[i], NULL);

		bip_store_close(s);
	}
}

static void test_etcd_bad_options(void)
{
	struct {
		const char *addr;
		struct bip_store_opts opts;
		int want;
		const char *says;
	} rows[] = {
	    {"etcd://h:1", {.timeout_ms = -1}, BIP_EINVAL, "timeout"},
	    {"etcds://h:1", {.cert_file = "/c.pem"}, BIP_EINVAL, "key"},
	    {"etcds://h:1", {.key_file = "/k.pem"}, BIP_EINVAL, "key"},
	    {"etcds://h:1", {.ca_file = "/nonexistent/ca.pem"}, BIP_EINVAL, "/nonexistent/ca.pem"},
	    {"etcds://h:1",
	     {.cert_file = "/nonexistent/c.pem", .key_file = "/nonexistent/k.pem"},
	     BIP_EINVAL,
	     "/nonexistent/c.pem"},
	};

	for (size_t i = 0; i < LEN(rows); i++) {
		struct bip_store *s = NULL;
		char err[256] = "";
		int rc = bip_store_open(rows[i].addr, &rows[i].opts, &s, err, sizeof(err));

		T_CHECK(rc == rows[i].want && strstr(err, rows[i].says), "row %zu: %s: %s", i,
			bip_errname(rc), err);
		bip_store_close(s);
	}
}

/* --- fake servers --------------------------------------------------------------------- */

/* A listening socket on a free loopback port. */
static int listen_any(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port where nothing listens: bound (so nobody else takes it) but not listening. */
static int refusing_port(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

struct fake {
	pid_t pid;
	int port;
	int count; /* read end: one byte per request the server received */
};

/* Read one request (head + Content-Length body) from fd; false at EOF or error. */
static bool read_request(int fd)
{
	char buf[65536];
	size_t len = 0;
	char *end = NULL;
	long cl = 0;

	while (!end) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			return false;
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	const char *h = strcasestr(buf, "\r\nContent-Length:");
	if (h)
		cl = strtol(h + 17, NULL, 10);
	size_t have = len - (size_t)(end + 4 - buf);
	while ((long)have < cl) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r <= 0)
			return false;
		have += (size_t)r;
	}
	return true;
}

/*
 * A server that answers every request with answer (NULL: never answers, keeps reading), and
 * closes the connection after each answer when close_after.
 */
static int fake_start(struct fake *f, const char *answer, bool close_after)
{
	int p[2], lfd = listen_any(&f->port);

	if (lfd < 0 || pipe(p) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		close(p[0]);
		for (;;) {
			int c = accept(lfd, NULL, NULL);

			if (c < 0)
				continue;
			while (read_request(c)) {
				(void)!write(p[1], "r", 1);
				if (!answer)
					continue;
				(void)!write(c, answer, strlen(answer));
				if (close_after)
					break;
			}
			close(c);
		}
	}
	close(lfd);
	close(p[1]);
	f->count = p[0];
	fcntl(f->count, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Requests received since the last call. */
static int fake_requests(struct fake *f)
{
	char buf[256];
	int n = 0;
	ssize_t r;

	usleep(20000); /* let the server note what it has read */
	while ((r = read(f->count, buf, sizeof(buf))) > 0)
		n += (int)r;
	return n;
}

static void fake_stop(struct fake *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	close(f->count);
}

static void fake_addr(const struct fake *f, char *buf, size_t len)
{
	snprintf(buf, len, "etcd://127.0.0.1:%d", f->port);
}

/* Run get, list, a txn and a batch read; each must give want within [min_ms, max_ms]. */
static void check_all_ops(struct bip_store *s, int want, double min_ms, double max_ms)
{
	struct bip_cmp cmp = {"k", 0};
	struct bip_op op = {BIP_OP_PUT, "k", "v", 1};
	struct bip_read rd[] = {{"k", false, 0}, {"", true, 0}};
	struct bip_kv kv = {0};
	struct bip_kvs kvs = {0}, out[2];
	const char *names[] = {"get", "list", "txn", "read"};

	for (int i = 0; i < 4; i++) {
		double t0 = now_ms(), dt;
		int rc = i == 0	  ? bip_store_get(s, "k", &kv)
			 : i == 1 ? bip_store_list(s, "", 0, &kvs)
			 : i == 2 ? bip_store_txn(s, &cmp, 1, &op, 1, NULL)
				  : bip_store_read(s, rd, 2, out, NULL);

		dt = now_ms() - t0;
		T_CHECK(rc == want, "%s: %s, want %s (%s)", names[i], bip_errname(rc),
			bip_errname(want), bip_store_errmsg(s));
		T_CHECK(dt >= min_ms && dt <= max_ms, "%s took %.0f ms, want %.0f..%.0f", names[i],
			dt, min_ms, max_ms);
	}
}

/* A read-only handle refuses a txn before sending anything (nothing listens there). */
static void test_etcd_read_only(void)
{
	struct bip_store_opts o = {.read_only = true, .timeout_ms = 200};
	struct bip_op op = {BIP_OP_PUT, "k", "v", 1};
	struct bip_op dup[] = {{BIP_OP_PUT, "k", "v", 1}, {BIP_OP_DEL, "k", NULL, 0}};
	struct bip_store *s;
	char addr[64];
	int port, fd = refusing_port(&port);

	T_REQUIRE(fd >= 0);
	snprintf(addr, sizeof(addr), "etcd://127.0.0.1:%d", port);
	s = open_store(addr, &o);
	T_REQUIRE(s);
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &op, 1, NULL), BIP_EPERM);
	T_CHECK(strstr(bip_store_errmsg(s), "read-only"), "errmsg '%s'", bip_store_errmsg(s));
	T_CHECK_INT(bip_store_txn(s, NULL, 0, dup, 2, NULL), BIP_EINVAL); /* checked first */
	bip_store_close(s);
	close(fd);
}

/* The lock file of store addr, found as the one file of /run/blockipam it adds. */
static int node_lock_file(char *path, size_t len, const char *before)
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls /run/blockipam 2>/dev/null | grep -vxF -f %s", before);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	path[0] = '\0';
	if (fgets(cmd, sizeof(cmd), p)) {
		cmd[strcspn(cmd, "\n")] = '\0';
		snprintf(path, len, "/run/blockipam/%s", cmd);
	}
	pclose(p);
	return path[0] ? 0 : -1;
}

/*
 * The node lock: the processes of one machine take turns on an flock while they allocate
 * through etcd (a handle's lock op, nothing sent). A second process cannot take it while the
 * first holds it, can once it is given back; other nodes (clusters, prefixes) have other files.
 */
static void test_etcd_node_lock(void)
{
	struct bip_store_opts o = {.timeout_ms = 200, .prefix = "/lock-test/"};
	struct bip_store *s, *other;
	char before[] = "/tmp/bip-lock-before.XXXXXX", path[300], path2[300], cmd[128];
	struct stat st;
	int fd, bfd;

	if (geteuid() != 0)
		T_SKIP("not root: the node lock lives in /run/blockipam (without it there is none)");
	bfd = mkstemp(before);
	T_REQUIRE(bfd >= 0);
	close(bfd);
	snprintf(cmd, sizeof(cmd), "ls /run/blockipam > %s 2>/dev/null", before);
	T_REQUIRE(system(cmd) >= 0);
	s = open_store("etcd://127.0.0.1:1,127.0.0.1:2", &o);
	T_REQUIRE(s);
	T_REQUIRE(s->ops->lock != NULL);
	T_CHECK_INT(s->ops->lock(s, true), BIP_OK);
	T_REQUIRE(node_lock_file(path, sizeof(path), before) == 0, "no lock file in /run/blockipam");
	T_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "%s mode %o", path,
		st.st_mode & 0777);
	T_CHECK(stat("/run/blockipam", &st) == 0 && (st.st_mode & 0777) == 0700,
		"/run/blockipam mode %o", st.st_mode & 0777);
	fd = open(path, O_RDWR | O_CLOEXEC);
	T_REQUIRE(fd >= 0);
	T_CHECK(flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK,
		"another process took the lock while it was held");
	T_CHECK_INT(s->ops->lock(s, false), BIP_OK);
	T_CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0, "the lock given back cannot be taken");
	flock(fd, LOCK_UN);
	close(fd);

	/* Another node of the same cluster and prefix: another file, held independently. */
	o.node = "node-b";
	other = open_store("etcd://127.0.0.1:1,127.0.0.1:2", &o);
	T_REQUIRE(other);
	T_CHECK_INT(s->ops->lock(s, true), BIP_OK);
	T_CHECK_INT(other->ops->lock(other, true), BIP_OK);
	snprintf(cmd, sizeof(cmd), "echo %s >> %s", strrchr(path, '/') + 1, before);
	T_REQUIRE(system(cmd) >= 0);
	T_CHECK(node_lock_file(path2, sizeof(path2), before) == 0 && strcmp(path, path2) != 0,
		"one lock file for two nodes");
	other->ops->lock(other, false);
	s->ops->lock(s, false);
	bip_store_close(other);
	bip_store_close(s);
	unlink(path);
	unlink(path2);
	unlink(before);
}

static void test_etcd_refused(void)
{
	struct bip_store_opts o = {.timeout_ms = 300};
	struct bip_store *s;
	char addr[64];
	int port, fd = refusing_port(&port);

	T_REQUIRE(fd >= 0);
	snprintf(addr, sizeof(addr), "etcd://127.0.0.1:%d", port);
	s = open_store(addr, &o);
	T_REQUIRE(s);
	check_all_ops(s, BIP_EAGAIN, 250, 450);
	T_CHECK(strstr(bip_store_errmsg(s), "refused"), "errmsg '%s'", bip_store_errmsg(s));
	bip_store_close(s);
	close(fd);
}

/* A server that reads and never answers (etcd during an election). Reads are retried (the
 * wait per attempt is short); a txn is sent once and its outcome reported as unknown. */
static void test_etcd_silent(void)
{
	struct bip_store_opts o = {.timeout_ms = 1200};
	struct bip_cmp cmp = {"k", 0};
	struct bip_op op = {BIP_OP_PUT, "k", "v", 1};
	struct bip_kv kv = {0};
	struct bip_kvs kvs;
	struct bip_store *s;
	struct fake f;
	char addr[64];
	double t0;
	int n;

	T_REQUIRE(fake_start(&f, NULL, false) == 0);
	fake_addr(&f, addr, sizeof(addr));
	s = open_store(addr, &o);
	T_REQUIRE(s);
	t0 = now_ms();
	T_CHECK_INT(bip_store_get(s, "k", &kv), BIP_EAGAIN);
	T_CHECK(now_ms() - t0 < 1400, "get took %.0f ms", now_ms() - t0);
	n = fake_requests(&f);
	T_CHECK(n >= 2, "a silent server got %d reads: they must be retried", n);
	t0 = now_ms();
	T_CHECK_INT(bip_store_read(s, &(struct bip_read){"k", false, 0}, 1, &kvs, NULL),
		    BIP_EAGAIN);
	T_CHECK(now_ms() - t0 < 1400, "read took %.0f ms", now_ms() - t0);
	n = fake_requests(&f);
	T_CHECK(n >= 2, "a silent server got %d batch reads: they must be retried", n);
	t0 = now_ms();
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, NULL), BIP_EAGAIN);
	T_CHECK(now_ms() - t0 > 1100 && now_ms() - t0 < 1400, "txn took %.0f ms", now_ms() - t0);
	T_CHECK(strstr(bip_store_errmsg(s), "may or may not have been applied"), "errmsg '%s'",
		bip_store_errmsg(s));
	n = fake_requests(&f);
	T_CHECK(n == 1, "a txn without an answer was sent %d times", n);
	bip_store_close(s);
	fake_stop(&f);
}

#define ANSWER_503                                                                                 \
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "   \
	"93\r\n"                                                                                   \
	"\r\n{\"error\":\"etcdserver: request timed out\",\"message\":\"etcdserver: request "      \
	"timed "                                                                                   \
	"out\",\"code\":14}"

static void test_etcd_unavailable(void)
{
	struct bip_store_opts o = {.timeout_ms = 600};
	struct bip_cmp cmp = {"k", 0};
	struct bip_op op = {BIP_OP_PUT, "k", "v", 1};
	struct bip_kv kv = {0};
	struct bip_kvs kvs;
	struct bip_store *s;
	struct fake f;
	char addr[64];
	int n;

	T_REQUIRE(fake_start(&f, ANSWER_503, false) == 0);
	fake_addr(&f, addr, sizeof(addr));
	s = open_store(addr, &o);
	T_REQUIRE(s);
	T_CHECK_INT(bip_store_get(s, "k", &kv), BIP_EAGAIN);
	n = fake_requests(&f);
	T_CHECK(n >= 3, "503 to a read: retried %d times", n);
	T_CHECK_INT(bip_store_read(s, &(struct bip_read){"k", true, 0}, 1, &kvs, NULL), BIP_EAGAIN);
	n = fake_requests(&f);
	T_CHECK(n >= 3, "503 to a batch read: retried %d times", n);
	T_CHECK(strstr(bip_store_errmsg(s), "request timed out"), "errmsg '%s'",
		bip_store_errmsg(s));
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, NULL), BIP_EAGAIN);
	n = fake_requests(&f);
	T_CHECK(n == 1, "503 to a txn: sent %d times", n);
	T_CHECK(strstr(bip_store_errmsg(s), "may or may not"), "errmsg '%s'", bip_store_errmsg(s));
	bip_store_close(s);
	fake_stop(&f);
}

/* Answers the client must not accept, and answers that map to codes. */
static void test_etcd_answers(void)
{
	static const struct {
		const char *answer;
		bool close_after;
		int get, txn, read; /* results */
		const char *says;
	} rows[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, BIP_ECORRUPT, BIP_ECORRUPT,
	     BIP_ECORRUPT, "unexpected"},
	    {"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", false, BIP_EIO, BIP_EAGAIN, BIP_EIO,
	     "malformed"},
	    {"HTTP/1.1 400 Bad Request\r\nContent-Length: 66\r\n\r\n{\"error\":\"x\",\"message\":"
	     "\"etcdserver: too many operations\",\"code\":3}",
	     false, BIP_EINVAL, BIP_EINVAL, BIP_EINVAL, "too many operations"},
	    {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 40\r\n\r\n{\"error\":\"x\",\"message\":"
	     "\"auth\",\"code\":16}",
	     false, BIP_EPERM, BIP_EPERM, BIP_EPERM, "auth"},
	    {"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n", false,
	     BIP_EIO, BIP_EIO, BIP_EIO, "HTTP 404"},
	    /* good answers, chunked, and with the connection closed after each, as the answer
	     * says (a server that closes without saying so races the next request: a txn sent
	     * into that close cannot be known unapplied); a txn answer without responses is not
	     * one to a batch read */
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n{\"header\":{\"revi\r\n"
	     "12\r\nsion\":\"5\"},\"succee\r\nA\r\nded\":true}\r\n0\r\n\r\n",
	     true, BIP_ENOTFOUND, BIP_OK, BIP_ECORRUPT, ""},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 105\r\n\r\n{\"header\":{\"revision\":\"5\"},"
	     "\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{\"revision\":"
	     "\"5\"}}}]}",
	     false, BIP_ENOTFOUND, BIP_OK, BIP_OK, ""},
	};

	for (size_t i = 0; i < LEN(rows); i++) {
		struct bip_store_opts o = {.timeout_ms = 300};
		struct bip_op op = {BIP_OP_PUT, "k", "v", 1};
		struct bip_read rd = {"k", false, 0};
		struct bip_kv kv = {0};
		struct bip_kvs kvs;
		struct bip_store *s;
		struct bip__etcd_stats st;
		struct fake f;
		char addr[64];
		int rc;

		T_REQUIRE(fake_start(&f, rows[i].answer, rows[i].close_after) == 0);
		fake_addr(&f, addr, sizeof(addr));
		s = open_store(addr, &o);
		T_REQUIRE(s);
		rc = bip_store_get(s, "k", &kv);
		T_CHECK(rc == rows[i].get, "row %zu: get %s (%s)", i, bip_errname(rc),
			bip_store_errmsg(s));
		if (rc == BIP_OK)
			bip_kv_clear(&kv);
		T_CHECK(strstr(bip_store_errmsg(s), rows[i].says), "row %zu: errmsg '%s'", i,
			bip_store_errmsg(s));
		rc = bip_store_txn(s, NULL, 0, &op, 1, NULL);
		T_CHECK(rc == rows[i].txn, "row %zu: txn %s (%s)", i, bip_errname(rc),
			bip_store_errmsg(s));
		rc = bip_store_read(s, &rd, 1, &kvs, NULL);
		T_CHECK(rc == rows[i].read, "row %zu: read %s (%s)", i, bip_errname(rc),
			bip_store_errmsg(s));
		if (rc == BIP_OK) {
			T_CHECK(kvs.n == 0 && kvs.rev == 5, "row %zu: %zu entries at %" PRId64, i,
				kvs.n, kvs.rev);
			bip_kvs_free(&kvs);
		}
		bip__etcd_stats(s, &st);
		if (rows[i].close_after)
			T_CHECK(st.connects == 3, "row %zu: %" PRIu64 " connects", i, st.connects);
		bip_store_close(s);
		fake_stop(&f);
	}
}

/* --- a real etcd ---------------------------------------------------------------------- */

static void test_etcd_reuse(void)
{
	enum { N = 500 };
	const char *addr = need_env("BIP_TEST_ETCD");
	struct bip_store_opts o = {0};
	struct bip__etcd_stats st;
	struct bip_store *s;
	char prefix[96];
	int64_t rev = 0;
	double t0;

	if (!addr)
		T_SKIP("BIP_TEST_ETCD is not set: keep-alive NOT tested");
	run_prefix(prefix, sizeof(prefix), "reuse");
	o.prefix = prefix;
	s = open_store(addr, &o);
	T_REQUIRE(s);
	t0 = now_ms();
	for (int i = 0; i < N; i++) {
		struct bip_cmp cmp = {"counter", rev};
		char v[16];
		struct bip_op op = {BIP_OP_PUT, "counter", v, 0};

		snprintf(v, sizeof(v), "%d", i);
		op.len = strlen(v);
		T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, &rev), BIP_OK);
	}
	double dt = now_ms() - t0;
	bip__etcd_stats(s, &st);
	T_CHECK(st.connects == 1 && st.requests == N,
		"%" PRIu64 " connects for %" PRIu64 " requests", st.connects, st.requests);
	printf("  %d sequential CAS txns on one connection: %.0f txn/s, %.3f ms each; %" PRIu64
	       " connect(s)\n",
	       N, N / (dt / 1e3), dt / N, st.connects);
	bip_store_close(s);
}

static void test_etcd_failover(void)
{
	const char *addr = need_env("BIP_TEST_ETCD");
	struct bip_store_opts o = {.timeout_ms = 1000};
	char prefix[96], both[256];
	int port, fd;

	if (!addr)
		T_SKIP("BIP_TEST_ETCD is not set: fail-over NOT tested");
	if (strncmp(addr, "etcd://", 7) != 0 || strchr(addr, ','))
		T_SKIP("BIP_TEST_ETCD is not one plain etcd:// endpoint");
	fd = refusing_port(&port);
	T_REQUIRE(fd >= 0);
	run_prefix(prefix, sizeof(prefix), "failover");
	o.prefix = prefix;
	/* The dead endpoint first and last: a process starts at either. */
	for (int i = 0; i < 10; i++) {
		struct bip_store *s;
		struct bip_kv kv = {0};
		double t0 = now_ms();

		if (i & 1)
			snprintf(both, sizeof(both), "etcd://127.0.0.1:%d,%s", port, addr + 7);
		else
			snprintf(both, sizeof(both), "%s,127.0.0.1:%d", addr, port);
		s = open_store(both, &o);
		T_REQUIRE(s);
		T_CHECK_INT(put(s, "k", "v"), BIP_OK);
		T_CHECK_INT(bip_store_get(s, "k", &kv), BIP_OK);
		bip_kv_clear(&kv);
		T_CHECK(now_ms() - t0 < 100, "%s: %.0f ms", both, now_ms() - t0);
		bip_store_close(s);
	}
	close(fd);
}

/* Requests one operation sent, by the connection's counter. */
static uint64_t requests_since(struct bip_store *s, uint64_t *last)
{
	struct bip__etcd_stats st;
	uint64_t n;

	bip__etcd_stats(s, &st);
	n = st.requests - *last;
	*last = st.requests;
	return n;
}

/*
 * Round trips of the allocator on etcd (issue #6): an ADD reads everything but the block in
 * one request, then its block(s) in one, then commits: 3 requests, dual-stack or not (it was
 * 9 and 10); a repeated ADD 2 (no commit); a DEL 3 (the handle, its blocks, the commit).
 */
static void test_etcd_round_trips(void)
{
	const char *addr = need_env("BIP_TEST_ETCD");
	struct bip_store_opts o = {0};
	struct bip_pool p4 = {.name = "rt4", .block_len = 26},
			p6 = {.name = "rt6", .block_len = 122};
	struct bip_range range = {0};
	struct bip_store *s;
	struct bip_ipam *ip = NULL;
	char prefix[96];
	uint64_t last = 0;
	static const struct {
		const char *what, *handle;
		unsigned num4, num6;
		bool ranges, del;
		uint64_t want; /* 0: not checked (claims a block) */
	} rows[] = {
	    {"first ADD (claims a block)", "rt.1.eth0", 1, 0, false, false, 0},
	    {"ADD", "rt.2.eth0", 1, 0, false, false, 3},
	    {"repeated ADD", "rt.2.eth0", 1, 0, false, false, 2},
	    {"DEL", "rt.2.eth0", 0, 0, false, true, 3},
	    /* the block goes empty: the pools are read to see whether it still belongs here */
	    {"DEL of the block's last address", "rt.1.eth0", 0, 0, false, true, 4},
	    {"first dual-stack ADD (claims a block)", "rt.3.eth0", 1, 1, false, false, 0},
	    {"dual-stack ADD", "rt.4.eth0", 1, 1, false, false, 3},
	    {"repeated dual-stack ADD", "rt.4.eth0", 1, 1, false, false, 2},
	    {"dual-stack DEL", "rt.4.eth0", 0, 0, false, true, 3},
	    {"first host-local ADD", "rt.5.eth0", 1, 0, true, false, 0},
	    {"host-local ADD", "rt.6.eth0", 1, 0, true, false, 3},
	    {"host-local DEL", "rt.6.eth0", 0, 0, true, true, 3},
	};

	if (!addr)
		T_SKIP("BIP_TEST_ETCD is not set: round trips NOT tested");
	run_prefix(prefix, sizeof(prefix), "trips");
	o.prefix = prefix;
	s = open_store(addr, &o);
	T_REQUIRE(s);
	T_REQUIRE(bip_ipam_new(s, &ip) == BIP_OK);
	T_REQUIRE(bip_prefix_parse_net("10.99.0.0/24", &p4.cidr) == BIP_OK);
	T_REQUIRE(bip_prefix_parse_net("fd00:99::/120", &p6.cidr) == BIP_OK);
	T_REQUIRE(bip_prefix_parse_net("10.98.0.0/24", &range.subnet) == BIP_OK);
	T_REQUIRE(bip_ipam_pool_put(ip, &p4, true) == BIP_OK, "%s", bip_ipam_errmsg(ip));
	T_REQUIRE(bip_ipam_pool_put(ip, &p6, true) == BIP_OK, "%s", bip_ipam_errmsg(ip));
	requests_since(s, &last);
	for (size_t i = 0; i < LEN(rows); i++) {
		struct bip_alloc_req req = {.handle = rows[i].handle,
					    .node = "rt-node",
					    .num4 = rows[i].num4,
					    .num6 = rows[i].num6};
		struct bip_alloc_result res = {0};
		uint64_t n;
		int rc;

		if (rows[i].ranges) {
			req.ranges = &range;
			req.nranges = 1;
		}
		rc = rows[i].del ? bip_ipam_release_handle(ip, rows[i].handle)
				 : bip_ipam_allocate(ip, &req, &res);
		n = requests_since(s, &last);
		T_CHECK(rc == BIP_OK, "%s: %s (%s)", rows[i].what, bip_errname(rc),
			bip_ipam_errmsg(ip));
		T_CHECK(!rows[i].want || n == rows[i].want,
			"%s: %" PRIu64 " requests, want %" PRIu64, rows[i].what, n, rows[i].want);
		printf("  %-40s %" PRIu64 " requests\n", rows[i].what, n);
		bip_alloc_result_free(&res);
	}
	bip_ipam_free(ip);
	bip_store_close(s);
}

static void test_etcd_prefixes(void)
{
	const char *addr = need_env("BIP_TEST_ETCD");
	struct bip_store_opts oa = {0}, ob = {0};
	struct bip_store *a, *b;
	struct bip_kvs kvs = {0};
	char pa[96], pb[96];

	if (!addr)
		T_SKIP("BIP_TEST_ETCD is not set: prefixes NOT tested");
	run_prefix(pa, sizeof(pa), "a");
	/* pb extends pa without its trailing '/': a prefix range must not leak into it */
	snprintf(pb, sizeof(pb), "%.*sb/", (int)strlen(pa) - 1, pa);
	oa.prefix = pa;
	ob.prefix = pb;
	a = open_store(addr, &oa);
	b = open_store(addr, &ob);
	T_REQUIRE(a && b);
	T_CHECK_INT(put(a, "x", "in a"), BIP_OK);
	T_CHECK_INT(put(b, "x", "in b"), BIP_OK);
	T_CHECK_INT(bip_store_list(a, "", 0, &kvs), BIP_OK);
	T_CHECK(kvs.n == 1 && strcmp(kvs.v[0].key, "x") == 0 &&
		    strcmp((char *)kvs.v[0].value, "in a") == 0,
		"a sees %zu entries", kvs.n);
	bip_kvs_free(&kvs);
	bip_store_close(a);
	bip_store_close(b);
}

/*
 * What an allocation and a release on a frozen server say: the handle, the endpoint and the
 * time waited ("cannot read the records for 'net.c1.eth0' (...): etcd 127.0.0.1:2379: no answer
 * to /v3/kv/txn within 1000 ms (last: ...)"), never a message with holes where they go.
 */
static void check_lib_messages(struct bip_store *s, const char *addr)
{
	struct bip_alloc_req req = {.handle = "net.c1.eth0", .node = "n1", .num4 = 1};
	struct bip_alloc_result res = {0};
	const char *ep = strstr(addr, "://") ? strstr(addr, "://") + 3 : addr;
	char host[128];
	struct bip_ipam *ip = NULL;

	snprintf(host, sizeof(host), "%.*s", (int)strcspn(ep, ",/"), ep);
	T_REQUIRE(bip_ipam_new(s, &ip) == BIP_OK);
	for (int release = 0; release < 2; release++) {
		int rc = release ? bip_ipam_release_handle(ip, req.handle)
				 : bip_ipam_allocate(ip, &req, &res);
		const char *m = bip_ipam_errmsg(ip);

		T_CHECK(rc == BIP_EAGAIN, "%s: %s", release ? "release" : "allocation",
			bip_errname(rc));
		T_CHECK(strstr(m, "net.c1.eth0") && strstr(m, host) && strstr(m, "within 1000 ms") &&
			    !strstr(m, "''") && !strstr(m, "  "),
			"%s: '%s'", release ? "release" : "allocation", m);
		printf("  frozen server, %s: %s\n", release ? "release" : "allocation", m);
	}
	bip_alloc_result_free(&res);
	bip_ipam_free(ip);
}

/* The server is frozen (SIGSTOP: like an election, requests hang), then gone (SIGKILL). */
static void test_etcd_server_stopped(void)
{
	const char *addr = need_env("BIP_TEST_ETCD"), *pids = need_env("BIP_TEST_ETCD_PID");
	struct bip_store_opts o = {.timeout_ms = 1000};
	struct bip_store *s;
	char prefix[96];
	pid_t pid;

	if (!addr || !pids)
		T_SKIP("BIP_TEST_ETCD_PID is not set: a stopped server is NOT tested");
	pid = (pid_t)strtol(pids, NULL, 10);
	run_prefix(prefix, sizeof(prefix), "stopped");
	o.prefix = prefix;
	s = open_store(addr, &o);
	T_REQUIRE(s);
	T_REQUIRE(put(s, "k", "v") == BIP_OK);
	T_REQUIRE(kill(pid, SIGSTOP) == 0);
	check_all_ops(s, BIP_EAGAIN, 900, 1150);
	printf("  frozen server: %s\n", bip_store_errmsg(s));
	check_lib_messages(s, addr);
	kill(pid, SIGCONT);
	T_CHECK_INT(put(s, "k", "v2"), BIP_OK);
	T_REQUIRE(kill(pid, SIGKILL) == 0);
	usleep(100000);
	check_all_ops(s, BIP_EAGAIN, 900, 1150);
	printf("  stopped server: %s\n", bip_store_errmsg(s));
	bip_store_close(s);
}

/*
 * Increments of one counter by several processes while tests/etcd.sh kills and restarts
 * cluster members. Each worker writes, in the same txn, its own record "w/<id>" = the number of
 * its last increment; after BIP_EAGAIN (outcome unknown) it reads that record to learn whether
 * the increment was applied: the allocator's handle record plays this part. The counter must
 * equal the sum of the workers' increments.
 */
enum { WORKERS = 2 };

struct cas_report {
	long done, eagain, applied_unknown, conflicts, failures;
	double max_ms;
};

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* value "<n>" of key, 0 when absent; rev 0 when absent; rc */
static int read_num(struct bip_store *s, const char *key, long *n, int64_t *rev)
{
	struct bip_kv kv = {0};
	int rc = bip_store_get(s, key, &kv);

	*n = 0;
	*rev = 0;
	if (rc == BIP_ENOTFOUND)
		return BIP_OK;
	if (rc != BIP_OK)
		return rc;
	*n = strtol((char *)kv.value, NULL, 10);
	*rev = kv.rev;
	bip_kv_clear(&kv);
	return BIP_OK;
}

static void cas_worker(const char *addr, const char *prefix, int id, double secs,
		       struct cas_report *r)
{
	struct bip_store_opts o = {.prefix = prefix};
	struct bip_store *s = NULL;
	char me[16], err[256];
	double end = now_ms() + secs * 1e3;

	snprintf(me, sizeof(me), "w/%d", id);
	if (bip_store_open(addr, &o, &s, err, sizeof(err)) != BIP_OK) {
		r->failures++;
		return;
	}
	while (now_ms() < end) {
		long seq = r->done + 1;
		double t0 = now_ms();

		for (;;) {
			long cnt, mine;
			int64_t crev, mrev;
			char cv[24], mv[24];
			int rc = read_num(s, me, &mine, &mrev);

			if (rc == BIP_OK && mine == seq)
				break; /* an earlier try of this increment was applied */
			if (rc == BIP_OK)
				rc = read_num(s, "counter", &cnt, &crev);
			if (rc == BIP_EAGAIN) {
				r->eagain++;
				sleep_ms(20);
				continue;
			}
			if (rc != BIP_OK) {
				fprintf(stderr, "  worker %d: read: %s: %s\n", id, bip_errname(rc),
					bip_store_errmsg(s));
				r->failures++;
				goto out;
			}
			snprintf(cv, sizeof(cv), "%ld", cnt + 1);
			snprintf(mv, sizeof(mv), "%ld", seq);
			struct bip_cmp cmps[] = {{"counter", crev}, {me, mrev}};
			struct bip_op ops[] = {{BIP_OP_PUT, "counter", cv, strlen(cv)},
					       {BIP_OP_PUT, me, mv, strlen(mv)}};
			rc = bip_store_txn(s, cmps, 2, ops, 2, NULL);
			if (rc == BIP_OK)
				break;
			if (rc == BIP_ECONFLICT) {
				r->conflicts++;
				continue;
			}
			if (rc == BIP_EAGAIN) {
				r->eagain++;
				if (strstr(bip_store_errmsg(s), "may or may not"))
					r->applied_unknown++;
				sleep_ms(20);
				continue;
			}
			fprintf(stderr, "  worker %d: txn: %s: %s\n", id, bip_errname(rc),
				bip_store_errmsg(s));
			r->failures++;
			goto out;
		}
		r->done = seq;
		if (now_ms() - t0 > r->max_ms)
			r->max_ms = now_ms() - t0;
	}
out:
	bip_store_close(s);
}

static void test_etcd_cluster_cas(void)
{
	const char *addr = need_env("BIP_TEST_ETCD_CLUSTER");
	const char *secs_s = need_env("BIP_TEST_ETCD_CAS_SECONDS");
	double secs = secs_s ? atof(secs_s) : 10;
	struct cas_report reps[WORKERS] = {{0}};
	pid_t pids[WORKERS];
	int pipes[WORKERS][2];
	char prefix[96];
	long total = 0, counter = 0;
	int64_t rev;

	if (!addr)
		T_SKIP("BIP_TEST_ETCD_CLUSTER is not set: member failures NOT tested");
	run_prefix(prefix, sizeof(prefix), "cluster");
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < WORKERS; i++) {
		T_REQUIRE(pipe(pipes[i]) == 0);
		pids[i] = fork();
		T_REQUIRE(pids[i] >= 0);
		if (pids[i] == 0) {
			struct cas_report r = {0};

			cas_worker(addr, prefix, i, secs, &r);
			(void)!write(pipes[i][1], &r, sizeof(r));
			_exit(0);
		}
		close(pipes[i][1]);
	}
	for (int i = 0; i < WORKERS; i++) {
		T_CHECK(read(pipes[i][0], &reps[i], sizeof(reps[i])) == (ssize_t)sizeof(reps[i]),
			"worker %d did not report", i);
		close(pipes[i][0]);
		waitpid(pids[i], NULL, 0);
	}
	struct bip_store_opts o = {.prefix = prefix, .timeout_ms = 5000};
	struct bip_store *s = open_store(addr, &o);
	T_REQUIRE(s);
	for (int tries = 0; tries < 10 && read_num(s, "counter", &counter, &rev) != BIP_OK; tries++)
		sleep_ms(500);
	bip_store_close(s);
	for (int i = 0; i < WORKERS; i++) {
		total += reps[i].done;
		T_CHECK(reps[i].failures == 0, "worker %d: %ld failures", i, reps[i].failures);
		printf("  worker %d: %ld increments, %ld EAGAIN (%ld with unknown outcome), %ld "
		       "conflicts, slowest increment %.0f ms\n",
		       i, reps[i].done, reps[i].eagain, reps[i].applied_unknown, reps[i].conflicts,
		       reps[i].max_ms);
	}
	T_CHECK(counter == total, "counter %ld, increments %ld", counter, total);
	T_CHECK(total > 100, "only %ld increments", total);
	printf("  counter %ld = the sum of the increments\n", counter);
}

/* --- TLS ------------------------------------------------------------------------------ */

static void cert_path(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void test_etcd_tls(void)
{
	const char *addr = need_env("BIP_TEST_ETCD_TLS"), *dir = need_env("BIP_TEST_ETCD_CERTS");
	const char *wrong = need_env("BIP_TEST_ETCD_WRONGHOST");
	char ca[512], cert[512], key[512], rcert[512], rkey[512], rca[512], prefix[96];
	char byname[128];
	struct bip__etcd_stats st;
	struct bip_kv kv = {0};
	struct bip_store *s;
	const char *port;

	if (!addr || !dir)
		T_SKIP("BIP_TEST_ETCD_TLS / BIP_TEST_ETCD_CERTS are not set: TLS NOT tested");
	cert_path(ca, sizeof(ca), dir, "ca.pem");
	cert_path(cert, sizeof(cert), dir, "client.pem");
	cert_path(key, sizeof(key), dir, "client-key.pem");
	cert_path(rcert, sizeof(rcert), dir, "rogue-client.pem");
	cert_path(rkey, sizeof(rkey), dir, "rogue-client-key.pem");
	cert_path(rca, sizeof(rca), dir, "rogue-ca.pem");
	run_prefix(prefix, sizeof(prefix), "tls");

	/* mutual TLS: works, on one connection */
	struct bip_store_opts good = {
	    .prefix = prefix, .ca_file = ca, .cert_file = cert, .key_file = key};
	s = open_store(addr, &good);
	T_REQUIRE(s);
	for (int i = 0; i < 20; i++)
		T_CHECK(put(s, "k", "v") == BIP_OK, "%s", bip_store_errmsg(s));
	T_CHECK_INT(bip_store_get(s, "k", &kv), BIP_OK);
	bip_kv_clear(&kv);
	bip__etcd_stats(s, &st);
	T_CHECK_INT(st.connects, 1);
	bip_store_close(s);

	/* by name: DNS SAN and SNI */
	port = strrchr(addr, ':');
	T_REQUIRE(port);
	snprintf(byname, sizeof(byname), "etcds://localhost%s", port);
	s = open_store(byname, &good);
	T_REQUIRE(s);
	T_CHECK(put(s, "k", "v") == BIP_OK, "%s: %s", byname, bip_store_errmsg(s));
	bip_store_close(s);

	/* refused: no client certificate, one from another CA, a server we do not trust */
	struct {
		const char *what;
		struct bip_store_opts o;
		const char *says;
	} rows[] = {
	    {"no client certificate", {.prefix = prefix, .ca_file = ca}, "client certificate"},
	    {"client certificate of another CA",
	     {.prefix = prefix, .ca_file = ca, .cert_file = rcert, .key_file = rkey},
	     "client certificate"},
	    {"server certificate not trusted",
	     {.prefix = prefix, .ca_file = rca, .cert_file = cert, .key_file = key},
	     "not accepted"},
	};
	for (size_t i = 0; i < LEN(rows); i++) {
		double t0 = now_ms();
		int rc;

		s = open_store(addr, &rows[i].o);
		T_REQUIRE(s);
		rc = put(s, "k", "v");
		T_CHECK(rc == BIP_EPERM && strstr(bip_store_errmsg(s), rows[i].says), "%s: %s: %s",
			rows[i].what, bip_errname(rc), bip_store_errmsg(s));
		T_CHECK(now_ms() - t0 < 200, "%s: refused after %.0f ms (no retries)", rows[i].what,
			now_ms() - t0);
		printf("  %s: %s\n", rows[i].what, bip_store_errmsg(s));
		bip_store_close(s);
	}

	/* hostname verification: a certificate of the same CA, for another name */
	if (!wrong) {
		printf("  BIP_TEST_ETCD_WRONGHOST is not set: hostname mismatch NOT tested\n");
		return;
	}
	s = open_store(wrong, &good);
	T_REQUIRE(s);
	T_CHECK(put(s, "k", "v") == BIP_EPERM && strstr(bip_store_errmsg(s), "mismatch"), "%s",
		bip_store_errmsg(s));
	printf("  certificate for another host: %s\n", bip_store_errmsg(s));
	bip_store_close(s);
}

T_MAIN(T(test_etcd_addresses), T(test_etcd_bad_options), T(test_etcd_read_only), T(test_etcd_node_lock),
       T(test_etcd_refused), T(test_etcd_silent), T(test_etcd_unavailable), T(test_etcd_answers),
       T(test_etcd_reuse), T(test_etcd_failover), T(test_etcd_prefixes), T(test_etcd_round_trips),
       T(test_etcd_server_stopped), T(test_etcd_cluster_cas), T(test_etcd_tls))
