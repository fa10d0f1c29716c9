/*
 * What a block claim costs as the store grows (issue 16): in process, on the embedded store,
 * the median of PROBES calls of each kind on a store with one pool and no blocks, then again
 * after BLOCKS nodes have claimed a block each:
 *   - a new node's first ADD (claims a block);
 *   - an existing node's ADD (room in its block);
 *   - a specific address in a block nobody has claimed (claims that block).
 * Every probe's handle is released again, so the store size stays what it was. Prints one JSON
 * object: the medians in microseconds and the ratios full / empty.
 *
 *   bench_claim [BLOCKS=10000] [PROBES=100] [DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"
#include "../tests/util.h"
#include "common/stats.h"

enum kind { NEW_NODE, OLD_NODE, SPECIFIC, NKINDS };

static const char *const kind_name[NKINDS] = {"new_node_first_add", "existing_node_add",
					      "specific_ip_new_block"};

static int alloc(struct bip_ipam *ip, const char *h, const char *node, const struct bip_addr *want)
{
	struct bip_alloc_req req = {.handle = h, .node = node, .num4 = want ? 0 : 1};
	struct bip_alloc_result r;
	int rc;

	if (want) {
		req.ips = want;
		req.nips = 1;
	}
	rc = bip_ipam_allocate(ip, &req, &r);
	if (rc != BIP_OK) {
		fprintf(stderr, "bench_claim: %s on %s: %s: %s\n", h, node, bip_errname(rc),
			bip_ipam_errmsg(ip));
		return rc;
	}
	bip_alloc_result_free(&r);
	return 0;
}

/* The median of probes calls of kind k, in microseconds; round tells the probes of one size
 * from another's (new node names, new addresses). */
static double probe(struct bip_ipam *ip, enum kind k, int probes, int round)
{
	struct samples s = {0};
	double med;

	for (int i = 0; i < probes; i++) {
		char h[64], node[32];
		struct bip_addr want = {0};
		double t0;

		snprintf(h, sizeof(h), "probe.%d.%d.%d", round, (int)k, i);
		/* new nodes for the claims, so that node-1 keeps the one block it has */
		if (k == OLD_NODE)
			snprintf(node, sizeof(node), "node-1");
		else
			snprintf(node, sizeof(node), "new-%d-%d-%d", round, (int)k, i);
		if (k ==
		    SPECIFIC) { /* 10.200.0.0/16 is never claimed by the fill: a new block each */
			bip_addr_parse("10.200.0.0", &want);
			want.v += (bip_u128)(round * 512 + i) * 64 + 5;
		}
		t0 = now_s();
		if (alloc(ip, h, node, k == SPECIFIC ? &want : NULL))
			exit(1);
		samples_add(&s, (now_s() - t0) * 1e6);
		bip_ipam_release_handle(ip, h);
	}
	med = stats_of(s.v, s.n).med;
	samples_free(&s);
	return med;
}

int main(int argc, char **argv)
{
	long blocks = argc > 1 ? atol(argv[1]) : 10000;
	int probes = argc > 2 ? atoi(argv[2]) : 100;
	char *dir = argc > 3 ? strdup(argv[3]) : t_tmpdir();
	struct bip_store *st = t_store(dir, NULL, 0);
	struct bip_ipam *ip = NULL;
	double empty[NKINDS], full[NKINDS], t0, fill_s;

	if (!st || bip_ipam_new(st, &ip) != BIP_OK ||
	    t_pool(ip, "bench", "10.0.0.0/8", 26, NULL) != BIP_OK)
		return 1;
	if (alloc(ip, "seed.1", "node-1",
		  NULL)) /* node-1 has a block for the existing-node probe */
		return 1;
	for (int k = 0; k < NKINDS; k++)
		empty[k] = probe(ip, (enum kind)k, probes, 0);
	t0 = now_s();
	for (long i = 2; i <= blocks; i++) {
		char h[64], node[32];

		snprintf(h, sizeof(h), "fill.%ld", i);
		snprintf(node, sizeof(node), "node-%ld", i);
		if (alloc(ip, h, node, NULL))
			return 1;
	}
	fill_s = now_s() - t0;
	for (int k = 0; k < NKINDS; k++)
		full[k] = probe(ip, (enum kind)k, probes, 1);
	printf("{\"blocks\":%ld,\"probes\":%d,\"fill_s\":%.1f", blocks, probes, fill_s);
	for (int k = 0; k < NKINDS; k++)
		printf(",\"%s\":{\"empty_us\":%.0f,\"full_us\":%.0f,\"ratio\":%.2f}", kind_name[k],
		       empty[k], full[k], full[k] / empty[k]);
	printf("}\n");
	bip_ipam_free(ip);
	bip_store_close(st);
	if (argc <= 3)
		t_rmdir(dir);
	else
		free(dir);
	return 0;
}
