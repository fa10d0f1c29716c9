/*
 * Test helper: fill a store with allocations through the library (fast: no plugin exec).
 *
 *   helper_fill STORE POOL NODES PODS [NAMESPACE [FIRST_NODE]]
 *
 * Node i (FIRST_NODE.., default 1) gets PODS addresses from POOL (a name or CIDR), handles
 * "net.<ns>-<pool>-c<node>p<j>.eth0", pod "<pool>-<node>-<j>", namespace NAMESPACE (default
 * "default"). The family follows the pool. Exit 0 on success; 1 with a message on stderr otherwise.
 *
 *   helper_fill STORE --delete-pool POOL
 *
 * Deletes POOL with the library's plain bip_ipam_pool_delete, which leaves its non-empty blocks
 * behind, unowned: the store an older release's 'delete pool' left (blockipamctl now refuses a
 * pool in use), for tests of how such left-over blocks are shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"

int main(int argc, char **argv)
{
	struct bip_store *store = NULL;
	struct bip_ipam *ipam = NULL;
	struct bip_pool pool = {0};
	const char *ns = argc > 5 ? argv[5] : "default";
	char err[256] = "";
	long nodes, pods, first = argc > 6 ? atol(argv[6]) : 1;
	int ret = 1, rc;

	if (argc == 4 && strcmp(argv[2], "--delete-pool") == 0) {
		if ((rc = bip_store_open(argv[1], NULL, &store, err, sizeof(err))) == BIP_OK &&
		    (rc = bip_ipam_new(store, &ipam)) == BIP_OK)
			rc = bip_ipam_pool_delete(ipam, argv[3]);
		if (rc != BIP_OK)
			fprintf(stderr, "delete pool %s: %s %s (%s)\n", argv[3], err,
				ipam ? bip_ipam_errmsg(ipam) : "", bip_errname(rc));
		bip_ipam_free(ipam);
		bip_store_close(store);
		return rc == BIP_OK ? 0 : 1;
	}
	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: %s STORE POOL NODES PODS [NAMESPACE [FIRST_NODE]]\n",
			argv[0]);
		return 1;
	}
	nodes = atol(argv[3]);
	pods = atol(argv[4]);
	rc = bip_store_open(argv[1], NULL, &store, err, sizeof(err));
	if (rc != BIP_OK) {
		fprintf(stderr, "open %s: %s (%s)\n", argv[1], err, bip_errname(rc));
		return 1;
	}
	if ((rc = bip_ipam_new(store, &ipam)) != BIP_OK ||
	    (rc = bip_ipam_pool_get(ipam, argv[2], &pool)) != BIP_OK) {
		fprintf(stderr, "pool %s: %s (%s)\n", argv[2], ipam ? bip_ipam_errmsg(ipam) : "",
			bip_errname(rc));
		goto out;
	}
	for (long n = first; n < first + nodes; n++) {
		for (long j = 0; j < pods; j++) {
			char h[128], node[64], pod[64], cid[64];
			const char *pools[] = {argv[2]};
			struct bip_alloc_req req = {.handle = h, .node = node, .namespace = ns};
			struct bip_alloc_result r;

			snprintf(h, sizeof(h), "net.%s-%s-c%ldp%ld.eth0", ns, argv[2], n, j);
			snprintf(node, sizeof(node), "node-%ld", n);
			snprintf(pod, sizeof(pod), "%s-%ld-%ld", argv[2], n, j);
			snprintf(cid, sizeof(cid), "c%ldp%ld", n, j);
			req.attrs = (struct bip_attrs){ns, pod, cid, "eth0"};
			req.cfg_pools = pools;
			req.ncfg_pools = 1;
			if (pool.cidr.addr.family == 6)
				req.num6 = 1;
			else
				req.num4 = 1;
			if ((rc = bip_ipam_allocate(ipam, &req, &r)) != BIP_OK) {
				fprintf(stderr, "allocate %s: %s (%s)\n", h, bip_ipam_errmsg(ipam),
					bip_errname(rc));
				goto out;
			}
			bip_alloc_result_free(&r);
		}
	}
	ret = 0;
out:
	bip_pool_clear(&pool);
	bip_ipam_free(ipam);
	bip_store_close(store);
	return ret;
}
