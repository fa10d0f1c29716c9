/*
 * The consistency check's own state, shared by lib/check.c (the scan, overlaps, blocks outside
 * every pool, the report), lib/check_handles.c and lib/check_affinities.c. Private to them.
 *
 * The scan lists blocks, then handles, then affinities, each at its own time: a plugin of any
 * node that allocates or releases in between makes records that agree look as if they did not
 * (a new handle whose address the block list predates, a released one whose block entry it
 * still saw, a new block's affinity). Reporting those would be false, and repairing them would
 * damage live records. So whatever looks wrong is read again, with the records it depends on,
 * at ONE store revision (bip_store_read), and judged and repaired on that.
 */
#ifndef BIP_LIB_CHECK_INT_H
#define BIP_LIB_CHECK_INT_H

#include "hash.h"
#include "internal.h"

/* One allocated address as the blocks say (32 bytes: a check holds one per address). */
struct c_alloc {
	bip_u128 v;	 /* the address */
	uint32_t handle; /* index in the interned handles */
	uint8_t family;
	uint8_t blen; /* its block's prefix length */
};

struct c_block {
	struct bip_prefix cidr;
	char *node;
	int64_t rev;
	int naff; /* affinities naming it */
	bool has_node_aff;
	bool empty;
};

struct c_handle { /* 40 bytes */
	char *id;
	char *node; /* the node holding its first address in the blocks (a record to rebuild) */
	struct bip_prefix *addrs;
	int64_t rev;
	uint32_t naddrs;
	bool present; /* a record exists */
};

struct checker {
	struct bip_ipam *ip;
	struct bip_check_report *rep;
	struct bip_pool *pools;
	int64_t *pool_revs;
	size_t npools;
	struct c_block *blocks; /* sorted by CIDR once the scan is done */
	size_t nblocks, capb;
	struct c_alloc *allocs;
	size_t nallocs, capa;
	struct c_handle *handles;
	size_t nhandles, caph;
	struct smap hmap;   /* handle id -> index in handles */
	struct arena arena; /* handle ids and address lists */
	bool repair;
	bool (*want)(void *ctx, const struct bip_problem *p);
	void *want_ctx;
	int rc;
};

/* lib/check.c */
int bip__ck_problem(struct checker *c, enum bip_problem_kind kind, const char *key,
		    const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Set what bip__ck_problem cannot know: the record's revision and whether a repair exists. */
void bip__ck_last(struct checker *c, int64_t rev, bool fixable);
/* Whether to repair the record that problems [first, last) were found in. */
bool bip__ck_may_repair(const struct checker *c, size_t first, size_t last);
struct c_block *bip__ck_find_block(struct checker *c, struct bip_prefix p);

/* lib/check_handles.c */
/* Read keys[0..n) at one revision into got[0..n) (each 0 or 1 entry). */
int bip__ck_reread(struct checker *c, char (*keys)[KEY_LEN], size_t n, struct bip_kvs *got);
int bip__ck_handles(struct checker *c);

/* lib/check_affinities.c */
int bip__ck_affinities(struct checker *c);

/* lib/check_index.c: the block index against the blocks scanned (c->blocks, sorted). */
int bip__ck_index(struct checker *c);

#endif
