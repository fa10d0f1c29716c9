/*
 * Measurements of the SQLite store, the numbers quoted in store/sqlite/sqlite.c:
 *
 *   bench_sqlite exec    DIR RUNS        open + get + txn + close in one process, RUNS times
 *   bench_sqlite spawn   DIR RUNS        the same, one fork + exec of this binary per run
 *   bench_sqlite contend DIR PROCS OPS   PROCS processes, each OPS times: open, get,
 *                                        create-if-absent of its own key, close (the plugin)
 *   bench_sqlite cas     DIR PROCS OPS   PROCS processes with one handle each, OPS
 *                                        compare-and-swap increments of one shared key
 *   bench_sqlite scan    DIR N           N keys written, then listed whole and keys-only
 *
 * DIR must exist; the store is DIR/ipam.db. Latencies are per operation, retries included.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "common/stats.h"

static char addr[PATH_MAX + 16];

static void report(const char *what, double *ms, size_t n, double elapsed_ms)
{
	struct stats st = stats_of(ms, n);

	printf("%s: %zu ops in %.2f s (%.0f ops/s): median %.3f ms, p90 %.3f, p99 %.3f, "
	       "max %.3f ms\n",
	       what, n, elapsed_ms / 1e3, n / (elapsed_ms / 1e3), st.med, st.p90, st.p99, st.max);
}

static struct bip_store *open_store(void)
{
	struct bip_store *s = NULL;
	char err[512];
	int rc = bip_store_open(addr, NULL, &s, err, sizeof(err));

	if (rc != BIP_OK) {
		fprintf(stderr, "open %s: %s: %s\n", addr, bip_errname(rc), err);
		exit(1);
	}
	return s;
}

/* What one plugin exec does to the store. */
static int one(const char *key)
{
	struct bip_store *s = open_store();
	struct bip_kv kv = {0};
	struct bip_cmp cmp = {key, 0};
	struct bip_op op = {BIP_OP_PUT, key, "container-0123456789abcdef", 26};
	int rc;

	rc = bip_store_get(s, "config", &kv);
	bip_kv_clear(&kv);
	if (rc == BIP_OK || rc == BIP_ENOTFOUND)
		rc = bip_store_txn(s, &cmp, 1, &op, 1, NULL);
	bip_store_close(s);
	return rc;
}

static int bench_exec(int runs)
{
	double *ms = calloc((size_t)runs, sizeof(*ms)), t0 = now_ms();
	char key[64];

	for (int i = 0; i < runs; i++) {
		double t = now_ms();

		snprintf(key, sizeof(key), "ips/exec-%d-%d", (int)getpid(), i);
		if (one(key) != BIP_OK)
			return 1;
		ms[i] = now_ms() - t;
	}
	report("open+get+txn+close", ms, (size_t)runs, now_ms() - t0);
	free(ms);
	return 0;
}

static int bench_spawn(const char *self, const char *dir, int runs)
{
	double *ms = calloc((size_t)runs, sizeof(*ms)), t0 = now_ms();
	char key[64];

	for (int i = 0; i < runs; i++) {
		double t = now_ms();
		int st;
		pid_t pid;

		snprintf(key, sizeof(key), "ips/spawn-%d-%d", (int)getpid(), i);
		pid = fork();
		if (pid == 0) {
			execl(self, self, "one", dir, key, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
		ms[i] = now_ms() - t;
	}
	report("fork+exec+open+get+txn+close", ms, (size_t)runs, now_ms() - t0);
	free(ms);
	return 0;
}

static int cas_increment(struct bip_store *s)
{
	for (;;) {
		struct bip_kv kv = {0};
		struct bip_cmp cmp = {"counter", 0};
		char next[24];
		long v = 0;
		int rc = bip_store_get(s, "counter", &kv);

		if (rc == BIP_OK) {
			v = strtol((const char *)kv.value, NULL, 10);
			cmp.rev = kv.rev;
			bip_kv_clear(&kv);
		} else if (rc != BIP_ENOTFOUND) {
			return rc;
		}
		snprintf(next, sizeof(next), "%ld", v + 1);
		struct bip_op op = {BIP_OP_PUT, "counter", next, strlen(next)};
		rc = bip_store_txn(s, &cmp, 1, &op, 1, NULL);
		if (rc != BIP_ECONFLICT)
			return rc;
	}
}

/* PROCS children, OPS operations each; per-operation latencies come back through a pipe. */
static int bench_procs(bool cas, int procs, int ops)
{
	size_t n = (size_t)procs * (size_t)ops, got = 0;
	double *ms = calloc(n, sizeof(*ms)), t0;
	int go[2], res[2], failed = 0;

	if (!ms || pipe(go) || pipe(res))
		return 1;
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			double *mine = calloc((size_t)ops, sizeof(*mine));
			struct bip_store *s = NULL;
			char c, key[64];

			close(go[1]);
			(void)!read(go[0], &c, 1);
			if (cas)
				s = open_store();
			for (int i = 0; i < ops; i++) {
				double t = now_ms();
				int rc;

				snprintf(key, sizeof(key), "ips/%d-%d", p, i);
				rc = cas ? cas_increment(s) : one(key);
				if (rc != BIP_OK) {
					fprintf(stderr, "proc %d: %s\n", p, bip_errname(rc));
					_exit(1);
				}
				mine[i] = now_ms() - t;
			}
			bip_store_close(s);
			(void)!write(res[1], mine, (size_t)ops * sizeof(*mine));
			_exit(0);
		}
	}
	close(go[0]);
	close(res[1]);
	t0 = now_ms();
	close(go[1]);
	while (got < n * sizeof(*ms)) {
		ssize_t r = read(res[0], (char *)ms + got, n * sizeof(*ms) - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	for (int p = 0; p < procs; p++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	if (failed || got != n * sizeof(*ms))
		return 1;
	report(cas ? "cas increments" : "open+get+create+close", ms, n, now_ms() - t0);
	free(ms);
	return 0;
}

static int count(void *ctx, const struct bip_kv *kv)
{
	(void)kv;
	++*(size_t *)ctx;
	return 0;
}

static int bench_scan(int n)
{
	struct bip_store *s = open_store();
	struct bip_op *ops = calloc(10000, sizeof(*ops));
	char(*keys)[48] = calloc(10000, sizeof(*keys));
	const char *val = "{\"handle\":\"k8s-pod-network.0123456789abcdef0123456789\","
			  "\"node\":\"node-17\"}";
	double t0 = now_ms();
	int64_t rev;
	size_t seen;

	for (int i = 0; i < n; i += 10000) {
		int m = n - i < 10000 ? n - i : 10000;

		for (int j = 0; j < m; j++) {
			snprintf(keys[j], sizeof(keys[j]), "handles/10.%d.%d.%d", (i + j) >> 16,
				 ((i + j) >> 8) & 255, (i + j) & 255);
			ops[j] = (struct bip_op){BIP_OP_PUT, keys[j], val, strlen(val)};
		}
		if (bip_store_txn(s, NULL, 0, ops, (size_t)m, NULL) != BIP_OK)
			return 1;
	}
	printf("write %d keys in txns of 10000: %.2f s\n", n, (now_ms() - t0) / 1e3);
	for (unsigned flags = 0; flags <= BIP_LIST_KEYS_ONLY; flags++) {
		seen = 0;
		t0 = now_ms();
		if (bip_store_list_cb(s, "handles/", flags, count, &seen, &rev) != BIP_OK)
			return 1;
		printf("list %zu entries%s: %.1f ms\n", seen, flags ? " (keys only)" : "",
		       now_ms() - t0);
	}
	bip_store_close(s);
	free(ops);
	free(keys);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s exec|spawn|one|contend|cas|scan DIR ARG [ARG]\n",
			argv[0]);
		return 2;
	}
	snprintf(addr, sizeof(addr), "sqlite://%s/ipam.db", argv[2]);
	if (!strcmp(argv[1], "exec"))
		return bench_exec(atoi(argv[3]));
	if (!strcmp(argv[1], "spawn"))
		return bench_spawn(argv[0], argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "one"))
		return one(argv[3]) == BIP_OK ? 0 : 1;
	if (!strcmp(argv[1], "contend") && argc > 4)
		return bench_procs(false, atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[1], "cas") && argc > 4)
		return bench_procs(true, atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[1], "scan"))
		return bench_scan(atoi(argv[3]));
	fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], argv[1]);
	return 2;
}
