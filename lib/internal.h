/*
 * Internals shared by the library's modules: the ipam handle, memory helpers with the test
 * hook that fails the n-th allocation, store keys, and the in-memory forms of stored records.
 * Nothing here is visible to the binaries.
 */
#ifndef BIP_LIB_INTERNAL_H
#define BIP_LIB_INTERNAL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>

#include "blockipam/ipam.h"
#include "blockipam/selector.h"

struct bip_ipam {
	struct bip_store *store;
	char errmsg[512];
	uint64_t retries;
	long fail_after; /* test hook: fail the n-th allocation (0 = never) */
	long nallocs;
	bool fail_once; /* ... and only that one, not every later one too */
	uint64_t rng;	/* xorshift state for jitter */
};

/* Memory through the ipam handle, so tests can fail any allocation. */
void *bip__im_malloc(struct bip_ipam *ip, size_t n);
void *bip__im_calloc(struct bip_ipam *ip, size_t n, size_t size);
void *bip__im_realloc(struct bip_ipam *ip, void *p, size_t n);
char *bip__im_strdup(struct bip_ipam *ip, const char *s);
/* Set the detail message; returns err for "return bip__seterr(ip, BIP_EINVAL, ...)". */
int bip__seterr(struct bip_ipam *ip, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* bip__seterr for err straight from a store call: the store's words (its last call's) follow
 * whatever the code, also BIP_EINVAL (etcd's "too many operations in txn request"), where
 * bip__seterr adds them only to the codes no library check gives (a validation's BIP_EINVAL
 * must not carry an earlier call's store text). */
int bip__store_fail(struct bip_ipam *ip, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* After a store failure (the store has words for its last call) whose message does not name
 * the handle, which can be deep in a step ("cannot list pools"): put "<doing> '<handle>': "
 * before it, so that a runtime's log says which attachment it was. */
void bip__name_handle(struct bip_ipam *ip, int err, const char *doing, const char *handle);
int64_t bip__now(void);
uint64_t bip__rand(struct bip_ipam *ip);
/* Sleep a jittered, growing interval before retry number attempt. */
void bip__backoff(struct bip_ipam *ip, int attempt);
/* The same, scaled to how long the lost attempt took (microseconds). */
void bip__backoff_after(struct bip_ipam *ip, int attempt, int64_t took_us);

/* --- keys ------------------------------------------------------------------------------- */
#define KEY_CONFIG "config"
#define PFX_POOLS "pools/"
#define PFX_BLOCKS "blocks/"
#define PFX_AFFINITY "affinity/"
#define PFX_HANDLES "handles/"
#define PFX_NODES "nodes/"
#define PFX_NAMESPACES "namespaces/"
#define PFX_RESERVATIONS "reservations/"
#define KEY_LEN (BIP_HANDLE_MAX + 64)

/* "10.0.0.0/26" -> "10.0.0.0-26" as used in keys. */
void bip__cidr_keypart(struct bip_prefix p, char *buf /* BIP_PREFIX_STRLEN */);
int bip__cidr_from_keypart(const char *s, struct bip_prefix *out);
void bip__key_block(char *buf, struct bip_prefix cidr);
void bip__key_affinity(char *buf, const char *node, struct bip_prefix cidr);
void bip__key_handle(char *buf, const char *id);

/* Names: [A-Za-z0-9][A-Za-z0-9._-]*, at most BIP_NAME_MAX. Handles: printable ASCII without
 * '/', space, quotes or backslash, at most BIP_HANDLE_MAX. */
bool bip__valid_name(const char *s);
bool bip__valid_handle(const char *s);
bool bip__valid_attr(const char *s);

/* --- records ---------------------------------------------------------------------------- */

/* Longest lists in records. Writers refuse more, so that readers never meet a record they would
 * reject: the addresses of a handle (as many as one request may ask for), a node's addresses,
 * a namespace's pools. */
#define HANDLE_MAX_ADDRS 256
#define NODE_MAX_ADDRS 64
#define NS_MAX_POOLS 64

/* A block in memory: one slot per ordinal. */
struct blk {
	struct bip_prefix cidr;
	char *node; /* affine node, NULL when unowned */
	int64_t claimed, empty_since;
	uint32_t size;
	char **handle;	 /* per ordinal, NULL = free */
	char **holder;	 /* per ordinal, node holding it when not the block's node */
	uint32_t *freed; /* released ordinals, oldest first */
	uint32_t nfreed;
	int64_t *freed_at; /* per ordinal: unix seconds of its release, 0 = long ago or unknown
			    * (stored as "cool" for releases of the last BIP_COOLDOWN_MAX s) */
	uint8_t *inq;	   /* per ordinal: in freed[] */
	uint32_t used;
	int64_t rev;	/* store revision; 0 = not in the store yet */
	bool hostlocal; /* a host-local range or pod CIDR (outside pools by design) */
	bool dirty;
	bool deleted; /* to be deleted in the commit */
};

#define BLK_MAX_ORDINALS (1u << 16)

struct blk *bip__blk_new(struct bip_ipam *ip, struct bip_prefix cidr, const char *node);
void bip__blk_free(struct blk *b);
int bip__blk_decode(struct bip_ipam *ip, const char *key, const unsigned char *v, size_t len,
		    int64_t rev, struct blk **out);
/* Encode to compact JSON text (malloc'd). */
char *bip__blk_encode(struct bip_ipam *ip, const struct blk *b, size_t *len);
/* Take ordinal o for handle (holder = node when it is not the block's node). */
int bip__blk_take(struct bip_ipam *ip, struct blk *b, uint32_t o, const char *handle,
		  const char *holder);
void bip__blk_release(struct blk *b, uint32_t o);

struct handle_rec {
	struct bip_handle_info info;
	int64_t rev;
};
int bip__handle_decode(struct bip_ipam *ip, const char *id, const unsigned char *v, size_t len,
		       struct bip_handle_info *out);
char *bip__handle_encode(struct bip_ipam *ip, const struct bip_handle_info *h, size_t *len);

int bip__pool_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		     struct bip_pool *out);
char *bip__pool_encode(struct bip_ipam *ip, const struct bip_pool *p, size_t *len);
int bip__config_decode(struct bip_ipam *ip, const unsigned char *v, size_t len,
		       struct bip_config *out);
char *bip__config_encode(struct bip_ipam *ip, const struct bip_config *c, size_t *len);
int bip__reservation_decode(struct bip_ipam *ip, const char *name, const unsigned char *v,
			    size_t len, struct bip_reservation *out);
char *bip__reservation_encode(struct bip_ipam *ip, const struct bip_reservation *r, size_t *len);
int bip__node_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
		     struct bip_node *out);
char *bip__node_encode(struct bip_ipam *ip, const struct bip_node *n, size_t *len);
int bip__namespace_decode(struct bip_ipam *ip, const char *name, const unsigned char *v, size_t len,
			  struct bip_namespace *out);
char *bip__namespace_encode(struct bip_ipam *ip, const struct bip_namespace *ns, size_t *len);

/*
 * Affinity values: {"state":"confirmed","free":N(,"emptySince":T)}. "free" is the number of free
 * addresses of the block, written in the same transaction as every change of the block, so the
 * allocator finds a node's block with room from the affinity list alone instead of reading every
 * full block; absent (older records, repairs) means unknown. *nfree is -1 then. "emptySince"
 * (the block's, when it is empty) lets a node see which of its blocks have been empty long
 * enough to give back without reading them; 0 when absent.
 */
enum aff_state { AFF_PENDING, AFF_CONFIRMED, AFF_PENDING_DELETION };
int bip__affinity_decode(const unsigned char *v, size_t len, enum aff_state *st, long *nfree,
			 int64_t *empty_since);
const char *bip__affinity_value(enum aff_state st);
char *bip__affinity_encode(struct bip_ipam *ip, uint32_t nfree, int64_t empty_since, size_t *len);

/*
 * A stored record's canonical text: decode v as a record of kind k (name: its key's name part;
 * a handle's id) and encode it again into *out (malloc'd, *outlen bytes). Garbage is
 * BIP_ECORRUPT. inspect, when given, sees the decoded record (struct blk, bip_handle_info,
 * bip_pool, bip_config, bip_reservation, bip_node, bip_namespace, enum aff_state) before it is
 * encoded. The codecs' tests and fuzz target hold every record to: what decodes re-encodes to
 * a fixed point.
 */
enum rec_kind {
	REC_BLOCK,
	REC_HANDLE,
	REC_POOL,
	REC_CONFIG,
	REC_RESERVATION,
	REC_NODE,
	REC_NAMESPACE,
	REC_AFFINITY
};
int bip__record_reencode(struct bip_ipam *ip, enum rec_kind k, const char *name,
			 const unsigned char *v, size_t len, char **out, size_t *outlen,
			 void (*inspect)(void *ctx, enum rec_kind k, const void *rec), void *ctx);

/* Helpers over records. */
int bip__load_pools(struct bip_ipam *ip, struct bip_pool **out, int64_t **revs, size_t *n);
int bip__load_reservations(struct bip_ipam *ip, struct bip_prefix **out, size_t *n);
/* What load_* do after their list: decode entries already read (the pools sorted by family,
 * priority, name, with their revisions; every reserved CIDR). */
int bip__pools_from(struct bip_ipam *ip, const struct bip_kvs *kvs, struct bip_pool **out,
		    int64_t **revs, size_t *n);
int bip__reservations_from(struct bip_ipam *ip, const struct bip_kvs *kvs, struct bip_prefix **out,
			   size_t *n);
bool bip__addr_reserved(const struct bip_prefix *res, size_t nres, struct bip_addr a);
/* The pool holding a block/address, or NULL. */
const struct bip_pool *bip__pool_of(const struct bip_pool *pools, size_t n, struct bip_prefix p);
unsigned bip__default_block_len(int family);
/* Length of the sub-blocks a host-local range or pod CIDR is kept in. */
unsigned bip__range_block_len(struct bip_prefix subnet);
int bip__label_set_dup(struct bip_ipam *ip, struct bip_label_set *dst,
		       const struct bip_label_set *src);
void bip__label_set_clear(struct bip_label_set *ls);

/* lib/walk.c: call fn for every block (b NULL when the record does not decode). */
typedef int (*bip__blk_fn)(void *ctx, const struct bip_kv *kv, struct blk *b);
int bip__foreach_block(struct bip_ipam *ip, bip__blk_fn fn, void *ctx);

/* lib/affinities.c: release every affinity of the blocks inside *within (all nodes; NULL: any),
 * or of one node's blocks (only_node); counts the blocks left unowned and those deleted. */
int bip__release_affinities(struct bip_ipam *ip, const struct bip_prefix *within,
			    const char *only_node, size_t *released, size_t *deleted);

#endif
