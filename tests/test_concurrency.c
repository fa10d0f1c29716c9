/*
 * Many real processes on one SQLite file: 8 processes acting as 5 nodes allocate 20,000
 * addresses, release half of them at random, allocate 10,000 more. Afterwards an independent
 * checker, reading the raw store records with jansson (not the library's decoders), finds no
 * address held twice and every handle's addresses in its block; the library's consistency
 * check finds nothing.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

#define PROCS 8
#define NODES 5

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run fn(p) in PROCS child processes; return how many failed. */
static int in_children(const char *dir, int (*fn)(struct bip_ipam *ip, int p, void *ctx),
		       void *ctx, unsigned long *retries)
{
	pid_t pids[PROCS];
	int pipes[PROCS][2];
	int bad = 0;

	for (int p = 0; p < PROCS; p++) {
		if (pipe(pipes[p]) != 0)
			return PROCS;
		pids[p] = fork();
		if (pids[p] == 0) {
			struct bip_store *st = t_store(dir, NULL, 0);
			struct bip_ipam *ip = NULL;
			unsigned long r = 0;
			int rc = 1;

			close(pipes[p][0]);
			if (st && bip_ipam_new(st, &ip) == BIP_OK) {
				rc = fn(ip, p, ctx);
				r = bip_ipam_retries(ip);
			}
			if (write(pipes[p][1], &r, sizeof(r)) != sizeof(r))
				rc = 1;
			bip_ipam_free(ip);
			bip_store_close(st);
			_exit(rc);
		}
		close(pipes[p][1]);
	}
	for (int p = 0; p < PROCS; p++) {
		int status = 0;
		unsigned long r = 0;

		if (read(pipes[p][0], &r, sizeof(r)) == sizeof(r))
			*retries += r;
		close(pipes[p][0]);
		waitpid(pids[p], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	return bad;
}

struct plan {
	int first, count; /* handles first + p, first + p + PROCS, ... */
};

static int do_alloc(struct bip_ipam *ip, int p, void *ctx)
{
	const struct plan *pl = ctx;

	for (int k = pl->first + p; k < pl->first + pl->count; k += PROCS) {
		char h[32], node[32];
		struct bip_alloc_req req = {.handle = h, .node = node, .num4 = 1};
		struct bip_alloc_result r;
		int rc;

		snprintf(h, sizeof(h), "h%d", k);
		snprintf(node, sizeof(node), "node-%d", k % NODES);
		rc = bip_ipam_allocate(ip, &req, &r);
		if (rc != BIP_OK) {
			fprintf(stderr, "alloc %s: %s: %s\n", h, bip_errname(rc),
				bip_ipam_errmsg(ip));
			return 1;
		}
		bip_alloc_result_free(&r);
	}
	return 0;
}

static int do_release(struct bip_ipam *ip, int p, void *ctx)
{
	const struct plan *pl = ctx;

	srand((unsigned)(p * 7919 + 1));
	/* Release a random half of this process's handles. */
	for (int k = pl->first + p; k < pl->first + pl->count; k += PROCS) {
		char h[32];
		int rc;

		if (rand() % 2)
			continue;
		snprintf(h, sizeof(h), "h%d", k);
		rc = bip_ipam_release_handle(ip, h);
		if (rc != BIP_OK) {
			fprintf(stderr, "release %s: %s: %s\n", h, bip_errname(rc),
				bip_ipam_errmsg(ip));
			return 1;
		}
	}
	return 0;
}

/* The independent checker: raw records only. Returns addresses held. */
static long independent_check(struct bip_store *st, long *dups, long *mismatch)
{
	struct bip_kvs blocks = {0}, handles = {0};
	json_t *seen = json_object(); /* address -> handle, from blocks */
	long held = 0;

	*dups = *mismatch = 0;
	if (bip_store_list(st, "blocks/", 0, &blocks) != BIP_OK ||
	    bip_store_list(st, "handles/", 0, &handles) != BIP_OK)
		return -1;
	for (size_t i = 0; i < blocks.n; i++) {
		json_t *b = json_loads((char *)blocks.v[i].value, 0, NULL), *e;
		struct bip_prefix cidr;
		size_t j;

		if (!b || bip_prefix_parse_net(json_string_value(json_object_get(b, "cidr")),
					       &cidr) != BIP_OK) {
			(*mismatch)++;
			json_decref(b);
			continue;
		}
		json_array_foreach(json_object_get(b, "alloc"), j, e)
		{
			char as[BIP_ADDR_STRLEN];
			struct bip_addr a = bip_prefix_nth(
				cidr, (bip_u128)json_integer_value(json_array_get(e, 0)));

			bip_addr_fmt(a, as);
			if (json_object_get(seen, as))
				(*dups)++;
			json_object_set(seen, as, json_array_get(e, 1));
			held++;
		}
		json_decref(b);
	}
	/* every handle's addresses are given to it by the blocks, and nobody else's */
	for (size_t i = 0; i < handles.n; i++) {
		json_t *h = json_loads((char *)handles.v[i].value, 0, NULL), *e;
		const char *id = handles.v[i].key + strlen("handles/");
		size_t j;

		json_array_foreach(json_object_get(h, "ips"), j, e)
		{
			char as[BIP_PREFIX_STRLEN], *slash;
			json_t *owner;

			snprintf(as, sizeof(as), "%s", json_string_value(e));
			slash = strchr(as, '/');
			if (slash)
				*slash = '\0';
			owner = json_object_get(seen, as);
			if (!owner || strcmp(json_string_value(owner), id) != 0)
				(*mismatch)++;
		}
		json_decref(h);
	}
	if ((long)handles.n != held)
		*mismatch += labs((long)handles.n - held);
	json_decref(seen);
	bip_kvs_free(&blocks);
	bip_kvs_free(&handles);
	return held;
}

static void test_many_processes(void)
{
	char *dir = t_tmpdir();
	struct bip_store *st = t_store(dir, NULL, 0);
	struct bip_ipam *ip = NULL;
	struct plan p1 = {0, 20000}, p2 = {20000, 10000};
	unsigned long retries = 0;
	long dups, mismatch, held;
	double t0, t1, t2, t3;
	struct bip_check_report rep = {0};

	T_REQUIRE(st && bip_ipam_new(st, &ip) == BIP_OK);
	T_REQUIRE(t_pool(ip, "p", "10.0.0.0/16", 26, NULL) == BIP_OK);
	t0 = now_s();
	T_CHECK_INT(in_children(dir, do_alloc, &p1, &retries), 0);
	t1 = now_s();
	T_CHECK_INT(in_children(dir, do_release, &p1, &retries), 0);
	t2 = now_s();
	T_CHECK_INT(in_children(dir, do_alloc, &p2, &retries), 0);
	t3 = now_s();
	held = independent_check(st, &dups, &mismatch);
	T_CHECK_INT(dups, 0);
	T_CHECK_INT(mismatch, 0);
	T_CHECK(held > 19000 && held < 21000, "held %ld", held);
	T_REQUIRE(bip_ipam_check(ip, false, &rep) == BIP_OK);
	T_CHECK(rep.n == 0, "check found %zu problems: %s", rep.n, rep.n ? rep.v[0].detail : "");
	bip_check_report_free(&rep);
	printf("   8 processes, 5 nodes: 20000 allocs %.2f s (%.0f/s), releases %.2f s, "
	       "10000 allocs %.2f s; %ld held, %lu retries\n",
	       t1 - t0, 20000 / (t1 - t0), t2 - t1, t3 - t2, held, retries);
	bip_ipam_free(ip);
	bip_store_close(st);
	t_rmdir(dir);
}

/*
 * `ipam check` (and --repair) while three nodes allocate and release: every commit leaves the
 * store consistent, so whatever a concurrent check reports is false, and a repair of a false
 * problem damages a live record (trims a new handle's address, rebuilds a released one, deletes
 * a new block's affinity). Processes 0-5 act as three nodes with /30 blocks (a new block every
 * few allocations); 6 checks, 7 checks with --repair, over and over.
 */
#define MIX_ROUNDS 500

static int do_mixed(struct bip_ipam *ip, int p, void *ctx)
{
	(void)ctx;
	if (p >= PROCS - 2) {
		int false_problems = 0;

		for (int k = 0; k < 40; k++) {
			struct bip_check_report rep = {0};
			int rc = bip_ipam_check(ip, p == PROCS - 1, &rep);

			if (rc != BIP_OK) {
				fprintf(stderr, "check: %s: %s\n", bip_errname(rc),
					bip_ipam_errmsg(ip));
				return 1;
			}
			for (size_t i = 0; i < rep.n; i++)
				fprintf(stderr, "  check %d.%d (%s): %s %s: %s%s\n", p, k,
					p == PROCS - 1 ? "repair" : "report",
					bip_problem_name(rep.v[i].kind), rep.v[i].key,
					rep.v[i].detail, rep.v[i].repaired ? " (repaired)" : "");
			false_problems += (int)rep.n;
			bip_check_report_free(&rep);
		}
		return false_problems ? 1 : 0;
	}
	for (int k = 0; k < MIX_ROUNDS; k++) {
		char h[48], node[16];
		struct bip_alloc_req req = {.handle = h, .node = node, .num4 = 1};
		struct bip_alloc_result r;
		int rc;

		snprintf(h, sizeof(h), "mix.c%d-%d.eth0", p, k);
		snprintf(node, sizeof(node), "node-%c", 'a' + p % 3);
		rc = bip_ipam_allocate(ip, &req, &r);
		if (rc != BIP_OK) {
			fprintf(stderr, "alloc %s: %s: %s\n", h, bip_errname(rc),
				bip_ipam_errmsg(ip));
			return 1;
		}
		bip_alloc_result_free(&r);
		if (k % 3 == 2) { /* release one of the last three: blocks empty and fill again */
			snprintf(h, sizeof(h), "mix.c%d-%d.eth0", p, k - 1 - (k / 3) % 2);
			rc = bip_ipam_release_handle(ip, h);
			if (rc != BIP_OK) {
				fprintf(stderr, "release %s: %s\n", h, bip_errname(rc));
				return 1;
			}
		}
	}
	return 0;
}

static void test_check_while_nodes_allocate(void)
{
	char *dir = t_tmpdir();
	struct bip_store *st = t_store(dir, NULL, 0);
	struct bip_ipam *ip = NULL;
	unsigned long retries = 0;
	long dups, mismatch, held;
	double t0;
	struct bip_check_report rep = {0};

	T_REQUIRE(st && bip_ipam_new(st, &ip) == BIP_OK);
	T_REQUIRE(t_pool(ip, "p", "10.2.0.0/16", 30, NULL) == BIP_OK);
	t0 = now_s();
	T_CHECK_INT(in_children(dir, do_mixed, NULL, &retries), 0);
	held = independent_check(st, &dups, &mismatch);
	T_CHECK_INT(dups, 0);
	T_CHECK_INT(mismatch, 0);
	T_CHECK_INT(held, (PROCS - 2) * (MIX_ROUNDS - MIX_ROUNDS / 3));
	T_REQUIRE(bip_ipam_check(ip, false, &rep) == BIP_OK);
	T_CHECK(rep.n == 0, "check found %zu problems: %s", rep.n, rep.n ? rep.v[0].detail : "");
	bip_check_report_free(&rep);
	printf("   3 nodes x 2 processes, %d allocations and %d releases each, 80 checks (40 "
	       "repairing) at once: %.2f s, %ld held, %lu retries\n",
	       MIX_ROUNDS, MIX_ROUNDS / 3, now_s() - t0, held, retries);
	bip_ipam_free(ip);
	bip_store_close(st);
	t_rmdir(dir);
}

T_MAIN(T(test_many_processes), T(test_check_while_nodes_allocate))
