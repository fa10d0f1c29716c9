/*
 * The block index (lib/blockidx.c, docs/records.md): kept by every commit that creates or
 * deletes a block, built in place for a store written before it (format 1, no "format" record),
 * checked and repaired by ipam check, and what claims walk: claims across a crowded pool and a
 * huge sparse IPv6 pool find free positions, never an existing block. The independent view here
 * reads raw keys (bip_store_list), never the library's index code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/ipam.h"
#include "t.h"
#include "util.h"

struct env {
	char *dir;
	struct bip_store *st;
	struct bip_ipam *ip;
};

static int env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->dir = t_tmpdir();
	e->st = e->dir ? t_store(e->dir, NULL, 0) : NULL;
	return e->st && bip_ipam_new(e->st, &e->ip) == BIP_OK ? 0 : -1;
}

static void env_close(struct env *e)
{
	bip_ipam_free(e->ip);
	bip_store_close(e->st);
	t_rmdir(e->dir);
}

static int alloc_on(struct env *e, const char *handle, const char *node, unsigned n4, unsigned n6)
{
	struct bip_alloc_req req = {.handle = handle, .node = node, .num4 = n4, .num6 = n6};
	struct bip_alloc_result r = {0};
	int rc = bip_ipam_allocate(e->ip, &req, &r);

	bip_alloc_result_free(&r);
	return rc;
}

/* blocks/10.1.0.64-26 -> blockidx/4/0a010040/026, written out here independently. */
static void idx_key_of(const char *block_key, char *out, size_t n)
{
	char cidr[64];
	struct bip_prefix p;
	char *dash;

	snprintf(cidr, sizeof(cidr), "%s", block_key + strlen("blocks/"));
	dash = strrchr(cidr, '-');
	if (dash)
		*dash = '/';
	if (bip_prefix_parse_net(cidr, &p) != BIP_OK) {
		snprintf(out, n, "?");
		return;
	}
	if (p.addr.family == 4) {
		snprintf(out, n, "blockidx/4/%08x/%03u", (unsigned)p.addr.v, p.len);
	} else {
		unsigned long long hi = (unsigned long long)(p.addr.v >> 64),
				   lo = (unsigned long long)p.addr.v;

		snprintf(out, n, "blockidx/6/%016llx%016llx/%03u", hi, lo, p.len);
	}
}

/* Blocks without their entry plus entries without their block; *nblocks the blocks seen. */
static long index_mismatches(struct bip_store *st, size_t *nblocks)
{
	struct bip_kvs blocks = {0}, idx = {0};
	long bad = 0;

	*nblocks = 0;
	if (bip_store_list(st, "blocks/", BIP_LIST_KEYS_ONLY, &blocks) != BIP_OK ||
	    bip_store_list(st, "blockidx/", BIP_LIST_KEYS_ONLY, &idx) != BIP_OK) {
		T_CHECK(false, "cannot list the blocks and the index");
		return -1;
	}
	for (size_t i = 0; i < blocks.n; i++) {
		char k[128];
		bool found = false;

		idx_key_of(blocks.v[i].key, k, sizeof(k));
		for (size_t j = 0; j < idx.n && !found; j++)
			found = strcmp(idx.v[j].key, k) == 0;
		if (!found)
			fprintf(stderr, "    %s has no entry %s\n", blocks.v[i].key, k);
		bad += !found;
	}
	if (idx.n > blocks.n - (size_t)bad)
		bad += (long)(idx.n - (blocks.n - (size_t)bad));
	*nblocks = blocks.n;
	bip_kvs_free(&blocks);
	bip_kvs_free(&idx);
	return bad;
}

static size_t problems_of(struct env *e, bool repair, const char *kind, size_t *repaired)
{
	struct bip_check_report rep = {0};
	size_t n = 0;

	*repaired = 0;
	if (bip_ipam_check(e->ip, repair, &rep) != BIP_OK) {
		T_CHECK(false, "ipam check: %s", bip_ipam_errmsg(e->ip));
		return 100000;
	}
	for (size_t i = 0; i < rep.n; i++) {
		if (kind && strcmp(bip_problem_name(rep.v[i].kind), kind) != 0) {
			fprintf(stderr, "    unexpected: %s %s\n", bip_problem_name(rep.v[i].kind),
				rep.v[i].detail);
			n += 1000;
			continue;
		}
		n++;
		*repaired += rep.v[i].repaired;
	}
	bip_check_report_free(&rep);
	return n;
}

static void test_kept_by_every_commit(void)
{
	struct env e;
	size_t nb, rep;
	char h[32], node[16];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p4", "10.1.0.0/16", 26, NULL) == BIP_OK);
	T_REQUIRE(t_pool(e.ip, "p6", "fd00:1::/112", 122, NULL) == BIP_OK);
	for (int i = 0; i < 40; i++) {
		snprintf(h, sizeof(h), "h%d", i);
		snprintf(node, sizeof(node), "n%d", i % 8);
		T_CHECK_INT(alloc_on(&e, h, node, 1, 1), BIP_OK);
	}
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	T_CHECK(nb == 16, "%zu blocks, want 16 (8 nodes x 2 families)", nb);
	/* releases, then a node's release, delete blocks: their entries go with them */
	for (int i = 0; i < 40; i += 8) {
		snprintf(h, sizeof(h), "h%d", i);
		T_CHECK_INT(bip_ipam_release_handle(e.ip, h), BIP_OK);
	}
	T_CHECK_INT(bip_ipam_node_release(e.ip, "n0", NULL, NULL), BIP_OK);
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	T_CHECK(nb == 14, "%zu blocks after n0 went, want 14", nb);
	T_CHECK_INT(problems_of(&e, false, NULL, &rep), 0);
	env_close(&e);
}

static void test_upgrade_from_format1(void)
{
	struct env e;
	struct bip_kvs idx = {0};
	struct bip_kv kv = {0};
	size_t nb, rep;
	char h[32], node[16];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p4", "10.2.0.0/16", 26, NULL) == BIP_OK);
	for (int i = 0; i < 130; i++) { /* 130 blocks: more than two upgrade transactions */
		snprintf(h, sizeof(h), "old%d", i);
		snprintf(node, sizeof(node), "n%d", i);
		T_REQUIRE(alloc_on(&e, h, node, 1, 0) == BIP_OK);
	}
	/* what a release before the index left: no format record, no entries; and one stale
	 * entry, as an interrupted upgrade racing a release could leave */
	T_REQUIRE(bip_store_list(e.st, "blockidx/", BIP_LIST_KEYS_ONLY, &idx) == BIP_OK);
	for (size_t i = 0; i < idx.n; i++)
		T_REQUIRE(t_del(e.st, idx.v[i].key) == BIP_OK);
	bip_kvs_free(&idx);
	T_REQUIRE(t_del(e.st, "format") == BIP_OK);
	T_REQUIRE(t_put(e.st, "blockidx/4/0a02ff00/026", "{\"block\":\"10.2.255.0/26\"}") ==
		  BIP_OK);
	/* a format-1 store has no index to judge */
	T_CHECK_INT(problems_of(&e, false, NULL, &rep), 0);
	/* the first allocation builds it, and its claim sees every old block */
	T_CHECK_INT(alloc_on(&e, "new", "newnode", 1, 0), BIP_OK);
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	T_CHECK(nb == 131, "%zu blocks, want 131", nb);
	T_REQUIRE(bip_store_get(e.st, "format", &kv) == BIP_OK);
	T_CHECK(kv.len == 13 && memcmp(kv.value, "{\"version\":2}", 13) == 0, "format %.*s",
		(int)kv.len, (const char *)kv.value);
	bip_kv_clear(&kv);
	T_CHECK_INT(problems_of(&e, false, NULL, &rep), 0);
	env_close(&e);
}

static void test_check_repairs_the_index(void)
{
	struct env e;
	size_t nb, rep;
	char h[32], node[16];

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p4", "10.3.0.0/24", 26, NULL) == BIP_OK); /* 4 blocks */
	for (int i = 0; i < 3; i++) {
		snprintf(h, sizeof(h), "h%d", i);
		snprintf(node, sizeof(node), "n%d", i);
		T_REQUIRE(alloc_on(&e, h, node, 1, 0) == BIP_OK);
	}
	/* an entry lost (as a release before the index writing to an upgraded store) and an
	 * entry for the free fourth position */
	{
		struct bip_kvs idx = {0};

		T_REQUIRE(bip_store_list(e.st, "blockidx/", BIP_LIST_KEYS_ONLY, &idx) == BIP_OK);
		T_REQUIRE(idx.n == 3);
		T_REQUIRE(t_del(e.st, idx.v[0].key) == BIP_OK);
		bip_kvs_free(&idx);
	}
	T_REQUIRE(index_mismatches(e.st, &nb) == 1);
	{
		struct bip_kvs blocks = {0};
		char k[128], free4[128] = "";

		T_REQUIRE(bip_store_list(e.st, "blocks/", BIP_LIST_KEYS_ONLY, &blocks) == BIP_OK);
		for (int q = 0; q < 4 && !*free4; q++) {
			char bk[64];
			bool used = false;

			snprintf(bk, sizeof(bk), "blocks/10.3.0.%d-26", q * 64);
			for (size_t i = 0; i < blocks.n; i++)
				used |= strcmp(blocks.v[i].key, bk) == 0;
			if (!used)
				idx_key_of(bk, free4, sizeof(free4));
		}
		bip_kvs_free(&blocks);
		T_REQUIRE(*free4);
		snprintf(k, sizeof(k), "%s", free4);
		T_REQUIRE(t_put(e.st, k, "{\"block\":\"stale\"}") == BIP_OK);
	}
	T_CHECK_INT(problems_of(&e, false, "block-index-mismatch", &rep), 2);
	T_CHECK_INT(rep, 0);
	T_CHECK_INT(problems_of(&e, true, "block-index-mismatch", &rep), 2);
	T_CHECK_INT(rep, 2);
	T_CHECK_INT(problems_of(&e, false, NULL, &rep), 0);
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	/* the fourth position can be claimed again, and the pool then holds 4 blocks */
	T_CHECK_INT(alloc_on(&e, "h3", "n3", 1, 0), BIP_OK);
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	T_CHECK(nb == 4, "%zu blocks, want 4", nb);
	env_close(&e);
}

/* Claims across a pool whose every position is taken but a few far apart, and across a huge
 * IPv6 pool: a free position found each time, never an existing block. */
static void test_claims_walk_the_index(void)
{
	struct env e;
	size_t nb, rep;
	char h[32], node[16];
	int fails = 0;

	T_REQUIRE(env_open(&e) == 0);
	T_REQUIRE(t_pool(e.ip, "p4", "10.4.0.0/20", 28, NULL) == BIP_OK); /* 256 positions */
	T_REQUIRE(t_pool(e.ip, "p6", "fd00:4::/48", 122, NULL) == BIP_OK);
	for (int i = 0; i < 256; i++) {
		snprintf(h, sizeof(h), "h%d", i);
		snprintf(node, sizeof(node), "n%d", i);
		fails += alloc_on(&e, h, node, 1, 1) != BIP_OK;
	}
	T_CHECK_INT(fails, 0);
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	T_CHECK(nb == 512, "%zu blocks, want 512", nb);
	/* the IPv4 pool is full of blocks: a new node borrows (and takes no block) */
	T_CHECK_INT(alloc_on(&e, "late", "late-node", 1, 0), BIP_OK);
	T_CHECK_INT(index_mismatches(e.st, &nb), 0);
	T_CHECK(nb == 512, "%zu blocks after borrowing, want 512", nb);
	T_CHECK_INT(problems_of(&e, false, NULL, &rep), 0);
	env_close(&e);
}

T_MAIN(T(test_kept_by_every_commit), T(test_upgrade_from_format1), T(test_check_repairs_the_index),
       T(test_claims_walk_the_index))
