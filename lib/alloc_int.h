/*
 * The allocator's private state, shared by its files (lib/ipam.c: the request and the handle
 * object; read.c, select.c, alloc_block.c, alloc_range.c, commit.c, release.c): one attempt of
 * a request, and the steps each file gives the others. Private to lib/.
 */
#ifndef BIP_LIB_ALLOC_INT_H
#define BIP_LIB_ALLOC_INT_H

#include "internal.h"
#include "txn.h"

#define MAX_PER_REQUEST HANDLE_MAX_ADDRS

/* The records an attempt starts from, read together (bip__read_context). */
enum { RD_HANDLE, RD_CONFIG, RD_POOLS, RD_RESERVATIONS, RD_NODE, RD_NAMESPACE, RD_AFFINITY, RD__N };

/* A block read ahead (bip__prefetch_blks), decoded when bip__get_blk asks for it. */
struct pre_blk {
	struct bip_prefix cidr;
	struct bip_kv kv;
	bool found;
};

/* The records an attempt starts from, decoded (read.c). */
struct att_records {
	struct bip_kvs kvs[RD__N]; /* bip__read_context's answers, by RD_ slot */
	struct bip_config cfg;
	struct bip_pool *pools;
	int64_t *pool_revs;
	size_t npools;
	bool have_pools; /* a release reads the pools only when it needs them */
	struct bip_prefix *res;
	size_t nres;
	struct bip_node node;
	bool have_node;
	struct bip_namespace ns;
	bool have_ns;
	struct bip_label_set node_labels, ns_labels; /* with their name labels (select.c) */
	struct bip_handle_info held;
	int64_t handle_rev;
	bool have_handle;
};

/* The blocks the attempt has read or made (read.c). */
struct att_cache {
	struct blk **blks;
	size_t nblks, capblks;
	struct pre_blk *pre; /* read ahead, not decoded yet */
	size_t npre;
	struct bip_prefix *existing; /* the blocks of the spans read so far, sorted */
	size_t nexisting, capexisting;
	struct bip_prefix *spans; /* what bip__need_blocks_near has read: every block that
				   * overlaps a prefix inside one of these is in existing */
	size_t nspans, capspans;
	bool format_ok; /* the format record was read and is this library's */
};

/* This node's affinities, as read. */
struct att_affinities {
	struct bip_prefix *aff;
	int64_t *aff_rev;
	long *aff_free;	    /* free addresses of each, -1 unknown */
	int64_t *aff_empty; /* when each became empty, 0 unknown or not empty */
	size_t naff, capaff;
	bool have_aff;
};

/* What the commit writes besides the changed blocks (commit.c). */
struct att_pending {
	struct bip_assigned *out; /* the addresses taken */
	size_t nout;
	struct bip_prefix *new_aff;
	int64_t *new_aff_rev; /* 0: must not exist yet */
	size_t nnew_aff;
	/* Other nodes' empty blocks taken over in this attempt: their affinities go. */
	struct bip_prefix *drop_aff;
	char **drop_node;
	size_t ndrop;
	bool *pool_used; /* by pool index: compared in the commit */
};

struct attempt {
	struct bip_ipam *ip;
	const struct bip_alloc_req *req;
	int64_t now; /* wall clock at the start of the attempt (cooldown, empty blocks) */
	struct att_records rec;
	struct att_cache cache;
	struct att_affinities own;
	struct att_pending pend;
	const struct bip_range *ranges; /* host-local mode */
	size_t nranges;
	struct bip_range *own_ranges;
	struct bip_alloc_result *result;
};

/* lib/alloc_block.c */
bool bip__subnet_of(const struct attempt *a, struct bip_prefix blk, struct bip_prefix *sub,
		    struct bip_addr keep[3]);
int bip__kept_out(const struct bip_addr *keep, struct bip_addr addr);
int bip__push_out(struct attempt *a, struct bip_addr addr, struct bip_prefix block, bool borrowed,
		  int range_index);
bool bip__cooling(const struct attempt *a, const struct blk *b, uint32_t o);
int bip__take_from(struct attempt *a, struct blk *b, unsigned *need, const struct bip_range *r,
		   int range_index);
int bip__collect_affinity(void *ctx, const struct bip_kv *kv);
int bip__need_affinities(struct attempt *a);
unsigned bip__held_of(const struct attempt *a, int fam);
unsigned bip__out_of(const struct attempt *a, int fam);
int bip__prefetch_own(struct attempt *a, const unsigned *want, bool podcidr);
int bip__alloc_family(struct attempt *a, int fam, unsigned need);

/* lib/alloc_range.c */
int bip__alloc_ranges(struct attempt *a, int fam, unsigned need_podcidr);
int bip__alloc_specific(struct attempt *a);

/* lib/commit.c */
int bip__commit_alloc(struct attempt *a);
void bip__tidy_own_blocks(struct attempt *a);
int bip__empty_block_unwanted(struct attempt *a, const struct blk *b, bool *out);

/* lib/ipam.c */
void bip__attempt_clear(struct attempt *a);
int bip__store_lock(struct bip_ipam *ip, bool on);
int bip__put_free_count(struct bip_ipam *ip, struct bip__txn *t, const struct blk *b);

/* lib/read.c */
/* Every block that overlaps p into cache.existing (a wider span for each grow). */
int bip__need_blocks_near(struct attempt *a, struct bip_prefix p, unsigned grow);
/* Whether a span read covers p (*span, may be NULL: the one that does). */
bool bip__span_loaded(const struct attempt *a, struct bip_prefix p, struct bip_prefix *span);
/* Whether a block overlaps p; p must be inside a span bip__need_blocks_near has read. */
bool bip__overlaps_existing(const struct attempt *a, struct bip_prefix p);
struct blk *bip__cached_blk(struct attempt *a, struct bip_prefix cidr);
int bip__get_blk(struct attempt *a, struct bip_prefix cidr, struct blk **out);
int bip__prefetch_blks(struct attempt *a, const struct bip_prefix *cidrs, size_t n);
int bip__add_new_aff(struct attempt *a, struct bip_prefix cidr, int64_t aff_rev);
int bip__drop_aff(struct attempt *a, struct bip_prefix cidr, char *node);
int bip__new_blk(struct attempt *a, struct bip_prefix cidr, const char *node, int64_t aff_rev,
		 struct blk **out);
int bip__read_context(struct attempt *a);
int bip__use_handle(struct attempt *a, const struct bip_kv *kv);
int bip__use_context(struct attempt *a);
int bip__labels_with_name(struct bip_ipam *ip, const struct bip_label_set *src,
			  const char *name_key, const char *name, struct bip_label_set *out);
int bip__read_handle(struct attempt *a);
int bip__prefetch_held(struct attempt *a);
int bip__verify_held(struct attempt *a);

/* lib/select.c */
const char *bip__use_name(enum bip_use u);
const char *bip__uses_fmt(unsigned uses, char *buf, size_t len);
bool bip__selector_matches(const char *text, const struct bip_label_set *ls);
int bip__candidate_pools(struct attempt *a, int fam, size_t *idx, size_t *n);

#endif
