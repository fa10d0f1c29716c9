/*
 * In-process library benchmark on the embedded store (SQLite):
 *   - allocations per second for N allocations spread over 1,000 nodes;
 *   - the cost of one allocation (median of 200) on an empty store and after TOTAL held;
 *   - bytes of store per allocation.
 * Handles look like the CNI plugin's: "<network>.<64 hex container id>.eth0", with pod and
 * namespace attributes. Prints one JSON object on stdout.
 *
 *   bench_lib [N=100000] [TOTAL=500000] [DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "blockipam/ipam.h"
#include "../tests/util.h"
#include "common/stats.h"

static int one(struct bip_ipam *ip, long k, int nodes)
{
	char h[128], node[32], pod[32], cid[72];
	struct bip_alloc_req req = {.handle = h, .node = node, .num4 = 1, .namespace = "default"};
	struct bip_alloc_result r;
	int rc;

	snprintf(h, sizeof(h), "k8s-pod-network.%016lx%048lx.eth0", k * 2654435761ul, k);
	snprintf(node, sizeof(node), "node-%04ld", k % nodes);
	snprintf(pod, sizeof(pod), "pod-%ld", k);
	req.attrs.pod = pod;
	req.attrs.namespace = "default";
	snprintf(cid, sizeof(cid), "%016lx%048lx", k * 2654435761ul, k);
	req.attrs.container = cid;
	req.attrs.ifname = "eth0";
	rc = bip_ipam_allocate(ip, &req, &r);
	if (rc != BIP_OK) {
		fprintf(stderr, "alloc %ld: %s: %s\n", k, bip_errname(rc), bip_ipam_errmsg(ip));
		return rc;
	}
	bip_alloc_result_free(&r);
	return 0;
}

/* Median cost of one allocation (then released) at the current size. */
static double probe(struct bip_ipam *ip, long base, int nodes)
{
	double t[200];

	for (int i = 0; i < 200; i++) {
		char h[128];
		double t0 = now_s();

		if (one(ip, base + i, nodes))
			return -1;
		t[i] = now_s() - t0;
		snprintf(h, sizeof(h), "k8s-pod-network.%016lx%048lx.eth0",
			 (base + i) * 2654435761ul, base + i);
		bip_ipam_release_handle(ip, h);
	}
	return stats_of(t, 200).med * 1e6;
}

static long long fsize(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	long total = argc > 2 ? atol(argv[2]) : 500000;
	char *dir = argc > 3 ? strdup(argv[3]) : t_tmpdir();
	const int nodes = 1000;
	struct bip_store *st = t_store(dir, NULL, 0);
	struct bip_ipam *ip = NULL;
	double t0, rate, empty_us, full_us, t_total;
	char db[4096];
	long long bytes;

	if (!st || bip_ipam_new(st, &ip) != BIP_OK ||
	    t_pool(ip, "bench", "10.0.0.0/8", 26, NULL) != BIP_OK)
		return 1;
	empty_us = probe(ip, 900000000, nodes);
	t0 = now_s();
	for (long k = 0; k < n; k++)
		if (one(ip, k, nodes))
			return 1;
	rate = (double)n / (now_s() - t0);
	for (long k = n; k < total; k++)
		if (one(ip, k, nodes))
			return 1;
	t_total = now_s() - t0;
	full_us = probe(ip, 900001000, nodes);
	bip_ipam_free(ip);
	bip_store_close(st); /* checkpoints the WAL into the database file */
	snprintf(db, sizeof(db), "%s/ipam.db", dir);
	bytes = fsize(db);
	printf("{\"allocations\":%ld,\"nodes\":%d,\"allocs_per_s\":%.0f,"
	       "\"alloc_us_empty\":%.1f,\"alloc_us_at_total\":%.1f,\"total_held\":%ld,"
	       "\"build_s\":%.1f,\"db_bytes\":%lld,\"bytes_per_alloc\":%.1f}\n",
	       n, nodes, rate, empty_us, full_us, total, t_total, bytes,
	       (double)bytes / (double)total);
	if (argc <= 3)
		t_rmdir(dir);
	else
		free(dir);
	return 0;
}
