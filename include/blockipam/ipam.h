/*
 * libblockipam: pools, blocks with node affinity, borrowing, handles, reservations, release and
 * consistency checks, written only against the store interface (store.h).
 *
 * Ownership: every bip_*_new/_get/_list that returns an object has a matching _free; every
 * _free accepts NULL and half-built objects. Failure: a call that fails returns a code from
 * err.h, writes nothing to its outputs, and leaves the store as it was (every change is one
 * atomic store transaction). A human-readable detail naming the bad value is available from
 * bip_ipam_errmsg() until the next call on the same handle. The library never prints or exits.
 *
 * Threads: a struct bip_ipam is used by one thread at a time. Processes: any number, on any
 * number of machines sharing one store.
 */
#ifndef BLOCKIPAM_IPAM_H
#define BLOCKIPAM_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockipam/addr.h"
#include "blockipam/err.h"
#include "blockipam/selector.h"
#include "blockipam/store.h"

#define BIP_NAME_MAX 253   /* pool, node, namespace, reservation names */
#define BIP_HANDLE_MAX 512 /* handle ids */
#define BIP_ATTR_MAX 253   /* pod, namespace, container, interface attribute values */

/* What to say when a family has no pool at all (ADD and STATUS): how to create one. The JSON is
 * also YAML, so it can be pasted into pool.yaml as it is. */
#define BIP_NO_POOL_HINT(name, cidr)                                                               \
	"create one with 'blockipamctl apply -f pool.yaml', pool.yaml holding "                    \
	"{\"apiVersion\": \"blockipam.io/v1\", \"kind\": \"Pool\", \"metadata\": {\"name\": "      \
	"\"" name "\"}, \"spec\": {\"cidr\": \"" cidr "\"}}"
#define BIP_NO_POOL_HINT4 BIP_NO_POOL_HINT("pods-v4", "10.244.0.0/16")
#define BIP_NO_POOL_HINT6 BIP_NO_POOL_HINT("pods-v6", "fd00:244::/48")

/* Uses a pool may allow (bit set). */
enum bip_use {
	BIP_USE_WORKLOAD = 1u << 0,
	BIP_USE_TUNNEL = 1u << 1,
	BIP_USE_LOADBALANCER = 1u << 2,
};

enum bip_assign_mode { BIP_ASSIGN_AUTOMATIC = 0, BIP_ASSIGN_MANUAL = 1 };

struct bip_label_set {
	struct bip_label *v; /* selector.h */
	size_t n;
};

struct bip_pool {
	char *name;
	struct bip_prefix cidr;
	unsigned block_len; /* block prefix length; 0 in input = family default (26 / 122) */
	bool disabled;
	char *node_selector;   /* NULL or "" = all() */
	char *ns_selector;     /* NULL or "" = all namespaces */
	unsigned allowed_uses; /* enum bip_use bits; 0 in input = Workload|Tunnel */
	enum bip_assign_mode mode;
	int priority; /* automatic pools: higher first, then by name */
	char *extra;  /* JSON object text of fields blockipam keeps but does not use
		       * (Calico's ipipMode, vxlanMode, natOutgoing, ...); may be NULL */
};

#define BIP_COOLDOWN_MAX 1200 /* ipCooldownSeconds at most (Calico's bound) */
#define BIP_EMPTY_BLOCK_RELEASE_DEFAULT 900
#define BIP_RECLAIM_MIN_AGE 60 /* another node takes over an empty block after this long */

struct bip_config {
	bool strict_affinity;	      /* never borrow from another node's block */
	bool auto_allocate_blocks;    /* claim new blocks when a node's blocks are full */
	unsigned max_blocks_per_host; /* per family; 0 = unlimited (no hidden default) */
	/* An affine block empty this long goes back to the pool (affinity released, record
	 * deleted): its own node does it on its next allocation, gc and "ipam release
	 * --empty-blocks" for every node; a node that finds no unclaimed block left in a pool
	 * takes over another node's block that has been empty for min(this, 60 s) instead.
	 * Default 900 (Calico's leakGracePeriod); 0 = never. */
	unsigned empty_block_release_s;
	/* A released address is not handed out again for this many seconds (0-1200; Calico's
	 * ipCooldownSeconds), on top of the least-recently-freed order. Default 0. */
	unsigned ip_cooldown_s;
};

struct bip_reservation {
	char *name;
	struct bip_prefix *cidrs;
	size_t ncidrs;
};

struct bip_node {
	char *name;
	struct bip_label_set labels;
	struct bip_addr *addrs; /* the node's own addresses (route next hops) */
	size_t naddrs;
	struct bip_prefix *pod_cidrs; /* host-local mode: at most one per family */
	size_t npod_cidrs;
};

struct bip_namespace {
	char *name;
	struct bip_label_set labels;
	char **pools; /* default pools for its pods (names or CIDRs) */
	size_t npools;
};

/* Attributes recorded with an allocation (all optional). */
struct bip_attrs {
	const char *namespace;
	const char *pod;
	const char *container;
	const char *ifname;
	const char *pod_uid; /* Kubernetes' K8S_POD_UID: tells a recreated pod from the old one */
};

/* One host-local range: a subnet with optional start/end and a gateway never handed out. */
struct bip_range {
	struct bip_prefix subnet;
	struct bip_addr start, end, gateway; /* family 0 = unset */
	int set;			     /* range set index: one address per set */
};

/* The range the engine allocates from in a node's pod CIDR, as host-local would from that
 * subnet: network+1 is the gateway (never handed out), the last address ends it (IPv4: the one
 * before broadcast). STATUS and ADD use the same definition. */
void bip_pod_cidr_range(struct bip_prefix cidr, int set, struct bip_range *out);

/*
 * How the main plugin (the network's top-level CNI "type") treats an address's prefix, per
 * family (bip_alloc_req.subnet). Under an L2 subnet the subnet's network address, its gateway
 * and (IPv4) its broadcast address are never handed out, automatically or on request.
 */
enum bip_subnet_kind {
	BIP_SUBNET_NONE = 0, /* routed: every address of a block can be a pod's (Calico) */
	BIP_SUBNET_BLOCK,    /* each block is a subnet; its gateway is network+1 (bridge) */
	BIP_SUBNET_POOL,     /* the pool is one subnet (ptp with the pool's length, macvlan) */
};

struct bip_subnet_rule {
	enum bip_subnet_kind kind;
	struct bip_addr gateway; /* POOL: the gateway when inside the pool, else network+1 is */
	unsigned max_blocks;	 /* BLOCK: the node's blocks this request may use, its first ones
				  * in candidate pool and key order (bridge: 1); 0 = any */
	bool no_borrow;		 /* never an address of another node's (or no node's) block */
};

struct bip_alloc_req {
	const char *handle;    /* required; printable ASCII, no '/', no space */
	const char *node;      /* required */
	const char *namespace; /* selects namespace pools and namespaceSelector */
	struct bip_attrs attrs;
	enum bip_use use;    /* 0 = Workload */
	unsigned num4, num6; /* addresses wanted per family */
	/* Level 1: specific addresses (skip pool selection; must be in a pool, free, unreserved).
	 */
	const struct bip_addr *ips;
	size_t nips;
	/* Level 2: pools named explicitly (pod annotation): names or CIDRs. */
	const char *const *pools;
	size_t npools;
	/* Level 4: pools from the network config: names or CIDRs. */
	const char *const *cfg_pools;
	size_t ncfg_pools;
	/* Host-local mode: allocate only from these prefixes (no blocks, no borrowing). The
	 * node's pod CIDRs are used when this is empty and the node has some, unless
	 * ignore_pod_cidrs. Each range may be narrowed to [start, end] (0 family = whole). */
	const struct bip_range *ranges;
	size_t nranges;
	bool ignore_pod_cidrs;
	/* Block mode: the main plugin's subnet model, [0] IPv4, [1] IPv6 (zero: routed). */
	struct bip_subnet_rule subnet[2];
};

struct bip_assigned {
	struct bip_addr addr;
	struct bip_prefix block;  /* the block holding it (host-local: the range's subnet, or its
				   * sub-block of 2^16 addresses when the range is larger) */
	bool borrowed;		  /* from another node's (or no node's) block */
	int range_index;	  /* host-local: index in req->ranges; else -1 */
	struct bip_prefix range;  /* host-local: the subnet of its range or pod CIDR (the length
				   * to report); family 0 otherwise */
	struct bip_prefix subnet; /* under a subnet rule: the subnet (block or pool) and */
	struct bip_addr gateway;  /* its gateway; family 0 otherwise */
};

struct bip_alloc_result {
	struct bip_assigned *v;
	size_t n;
	bool existing; /* the handle already held these (a repeated ADD) */
};

struct bip_handle_info {
	char *id;
	char *node;
	char *namespace, *pod, *container, *ifname;
	int64_t time;		  /* unix seconds of the allocation, on the writer's wall clock */
	int64_t rev;		  /* mod revision of its record: the store's order of writes,
				   * whatever the clocks say (0 when not read from the store) */
	struct bip_prefix *addrs; /* address/len-of-its-block */
	size_t naddrs;
	char *pod_uid; /* NULL when not recorded (records written before it was) */
};

struct bip_ipam;

/* A handle on the store. The store stays the caller's (closed after bip_ipam_free). */
int bip_ipam_new(struct bip_store *store, struct bip_ipam **out);
void bip_ipam_free(struct bip_ipam *ipam);
/* Detail of the last failure ("pool 'p1' is disabled"), or "" when there is none. */
const char *bip_ipam_errmsg(const struct bip_ipam *ipam);
/* Retries (lost races) in the life of this handle, for benchmarks. */
uint64_t bip_ipam_retries(const struct bip_ipam *ipam);

/* Test hooks: fail the n-th memory allocation of the library (0 = never). */
void bip_ipam_fail_alloc_after(struct bip_ipam *ipam, long n);

/* --- allocation ------------------------------------------------------------------------ */

/*
 * Allocate for req->handle. Repeating a request for a handle that holds addresses returns those
 * (result->existing), per family. IPv4 and IPv6 are committed together with the handle record in
 * one transaction: either everything asked for is allocated, or nothing is.
 * Errors: BIP_EINVAL (bad request, detail names the field), BIP_ENOPOOL, BIP_EDISABLED,
 * BIP_EEXHAUSTED, BIP_EBLOCKLIMIT, BIP_ETAKEN, BIP_ERESERVED, BIP_EAGAIN (lost races beyond the
 * retry budget, store busy), BIP_EIO, BIP_ECORRUPT.
 */
int bip_ipam_allocate(struct bip_ipam *ipam, const struct bip_alloc_req *req,
		      struct bip_alloc_result *out);
void bip_alloc_result_free(struct bip_alloc_result *res);

/* Release everything a handle holds; BIP_ENOTFOUND when it holds nothing. */
int bip_ipam_release_handle(struct bip_ipam *ipam, const char *handle);
/* Release one address; with expect_handle, only if that handle still holds it (else BIP_EOWNER).
 * BIP_ENOTFOUND when the address is not allocated. */
int bip_ipam_release_addr(struct bip_ipam *ipam, struct bip_addr addr, const char *expect_handle);

/* The record of a handle (BIP_ENOTFOUND when absent). */
int bip_ipam_handle_get(struct bip_ipam *ipam, const char *handle, struct bip_handle_info *out);
void bip_handle_info_clear(struct bip_handle_info *h);
/* Call fn for every handle whose id starts with prefix ("" = all). */
int bip_ipam_handle_foreach(struct bip_ipam *ipam, const char *prefix,
			    int (*fn)(void *ctx, const struct bip_handle_info *h), void *ctx);

/* Who holds an address: the handle info (addrs = just this one), its block and the block's node
 * (NULL when unowned). BIP_ENOTFOUND when the address is free. */
struct bip_addr_info {
	struct bip_handle_info holder;
	struct bip_prefix block;
	char *block_node;
	char *pool; /* NULL when outside every pool */
	bool borrowed;
	bool reserved;
};
int bip_ipam_addr_info(struct bip_ipam *ipam, struct bip_addr addr, struct bip_addr_info *out);
void bip_addr_info_clear(struct bip_addr_info *ai);

/* --- resources ------------------------------------------------------------------------- */

/*
 * Create or update a pool. Validation: masked CIDR, block size 20-32 (v4) / 116-128 (v6), at
 * least one block, no overlap with another pool or with 169.254.0.0/16 / fe80::/10, valid
 * selectors. CIDR and block size cannot change in place (BIP_EINVAL naming both values).
 * create_only: BIP_EEXIST when it exists. Defaults are filled into *pool on success.
 */
int bip_ipam_pool_put(struct bip_ipam *ipam, struct bip_pool *pool, bool create_only);
int bip_ipam_pool_get(struct bip_ipam *ipam, const char *name, struct bip_pool *out);
/* All pools, ordered by (family, priority desc, name). */
int bip_ipam_pool_list(struct bip_ipam *ipam, struct bip_pool **out, size_t *n);
/* Delete a pool: disable it, release its blocks' affinities, delete its empty blocks (non-empty
 * ones stay unowned until their last address goes), then delete the record. */
int bip_ipam_pool_delete(struct bip_ipam *ipam, const char *name);
/* The same; with release, the addresses still held in its blocks are released first (each from
 * the handle that held it, a handle record that ends empty is deleted), so that no block is left
 * outside every pool. *released (may be NULL) counts them. */
int bip_ipam_pool_delete_force(struct bip_ipam *ipam, const char *name, bool release,
			       size_t *released);
void bip_pool_clear(struct bip_pool *p);
void bip_pools_free(struct bip_pool *v, size_t n);
/* Fill what a pool left out as bip_ipam_pool_put does before storing it: the family's default
 * block size, allowed uses Workload and Tunnel. */
void bip_pool_defaults(struct bip_pool *p);
/* Validate a pool without the store (format and ranges only). */
int bip_pool_validate(const struct bip_pool *p, char *err, size_t errlen);

/*
 * The allocator's automatic level (every enabled Automatic pool whose selectors match), for one
 * pool: whether a pod of node in namespace ns would get addresses from p without naming it.
 * p is enabled and Automatic, allows use (0 = Workload), and its nodeSelector matches
 * node_labels (the node's record; NULL when it has none) plus the implicit
 * kubernetes.io/hostname=<node>; its namespaceSelector matches ns_labels plus
 * kubernetes.io/metadata.name=<ns>, unless ns is NULL (no pod: the namespace is not judged, as
 * in STATUS). ADD and STATUS share this one rule. Writes *out; BIP_ENOMEM.
 */
int bip_ipam_pool_selects(struct bip_ipam *ipam, const struct bip_pool *p, enum bip_use use,
			  const char *node, const struct bip_label_set *node_labels, const char *ns,
			  const struct bip_label_set *ns_labels, bool *out);

/* The IPAM config (defaults when none is stored). Setting validates first. */
int bip_ipam_config_get(struct bip_ipam *ipam, struct bip_config *out);
int bip_ipam_config_set(struct bip_ipam *ipam, const struct bip_config *cfg);
void bip_config_default(struct bip_config *cfg);

int bip_ipam_reservation_put(struct bip_ipam *ipam, const struct bip_reservation *r);
int bip_ipam_reservation_get(struct bip_ipam *ipam, const char *name, struct bip_reservation *out);
int bip_ipam_reservation_list(struct bip_ipam *ipam, struct bip_reservation **out, size_t *n);
int bip_ipam_reservation_delete(struct bip_ipam *ipam, const char *name);
void bip_reservation_clear(struct bip_reservation *r);
void bip_reservations_free(struct bip_reservation *v, size_t n);

/* Nodes. Changing a pod CIDR while addresses from it are held is refused (BIP_EBUSY). */
int bip_ipam_node_put(struct bip_ipam *ipam, const struct bip_node *node);
int bip_ipam_node_get(struct bip_ipam *ipam, const char *name, struct bip_node *out);
int bip_ipam_node_list(struct bip_ipam *ipam, struct bip_node **out, size_t *n);
int bip_ipam_node_delete(struct bip_ipam *ipam, const char *name);
void bip_node_clear(struct bip_node *n);
void bip_nodes_free(struct bip_node *v, size_t n);

int bip_ipam_namespace_put(struct bip_ipam *ipam, const struct bip_namespace *ns);
int bip_ipam_namespace_get(struct bip_ipam *ipam, const char *name, struct bip_namespace *out);
int bip_ipam_namespace_list(struct bip_ipam *ipam, struct bip_namespace **out, size_t *n);
int bip_ipam_namespace_delete(struct bip_ipam *ipam, const char *name);
void bip_namespace_clear(struct bip_namespace *ns);
void bip_namespaces_free(struct bip_namespace *v, size_t n);

/* --- blocks and lifecycle -------------------------------------------------------------- */

/* Each address of a block counts once: size = used + reserved + free. */
struct bip_block_info {
	struct bip_prefix cidr;
	char *node;		       /* affine node, NULL when unowned */
	char *pool;		       /* NULL when outside every pool */
	uint64_t size, used, borrowed; /* borrowed: held by other nodes */
	uint64_t reserved;	       /* free addresses a reservation keeps out */
	uint64_t reserved_held; /* allocated addresses a reservation covers (reserved after they
				 * were allocated): counted in used, not in reserved */
	uint64_t free;		/* neither allocated nor reserved */
	int64_t claimed, empty_since;
};

/* Every block, in key order. */
int bip_ipam_block_list(struct bip_ipam *ipam, struct bip_block_info **out, size_t *n);
void bip_block_infos_free(struct bip_block_info *v, size_t n);

/* Every allocation of every block (for routes, show --show-borrowed): fn per address. */
struct bip_alloc_entry {
	struct bip_addr addr;
	struct bip_prefix block;
	const char *handle;
	const char *node;	/* node holding it */
	const char *block_node; /* block's affine node, NULL when unowned */
};
int bip_ipam_alloc_foreach(struct bip_ipam *ipam,
			   int (*fn)(void *ctx, const struct bip_alloc_entry *e), void *ctx);

/* A node left the cluster: release its affinities; empty blocks are deleted, non-empty ones
 * become unowned. Addresses are not released (gc does that). Counts what it did. */
int bip_ipam_node_release(struct bip_ipam *ipam, const char *node, size_t *released_blocks,
			  size_t *deleted_blocks);

/* Give back to their pools the blocks (of every node) that have been empty for at least
 * min_age_s seconds: affinity released, record deleted, each in its own transaction conditioned
 * on the block being as read (one that took an address meanwhile stays). Host-local blocks are
 * kept. gc and "ipam release --empty-blocks" call it; a node also gives back its own on its next
 * allocation, and takes over another's when it has no unclaimed block left (bip_config). */
int bip_ipam_release_empty_blocks(struct bip_ipam *ipam, unsigned min_age_s, size_t *deleted);

/* Utilization per pool (a pseudo-pool name NULL for blocks outside every pool). Each address
 * counts once, however many reservations cover it: capacity = used + reserved + free, where
 * used is every allocated address (reserved ones included) and reserved the addresses that
 * reservations keep out and nothing holds. */
struct bip_pool_usage {
	char *name;
	struct bip_prefix cidr;
	bip_u128 capacity, used, reserved, free, blocks;
};
int bip_ipam_usage(struct bip_ipam *ipam, struct bip_pool_usage **out, size_t *n);
void bip_pool_usages_free(struct bip_pool_usage *v, size_t n);

/* --- routes ------------------------------------------------------------------------------- */

enum bip_route_kind {
	BIP_ROUTE_BLOCK,     /* a node's block, via that node */
	BIP_ROUTE_HOST,	     /* an address held by a node other than its block's: /32 or /128 */
	BIP_ROUTE_BLACKHOLE, /* on the node itself: its own block, so free addresses do not leak */
};

struct bip_route {
	enum bip_route_kind kind;
	struct bip_prefix dst;
	const char *node;    /* the node the traffic goes to (owner or holder) */
	struct bip_addr via; /* that node's address of dst's family (family 0: none known) */
};

struct bip_routes {
	struct bip_route *v; /* sorted by node, then kind, then dst: output diffs well */
	size_t n;
	size_t pods; /* addresses allocated (the routes one-per-pod would need) */
	size_t nodes;
	char **names; /* interned node names the routes point into */
	size_t nnames;
};

/*
 * The routes of the cluster. With for_node: the routes that node installs (other nodes' blocks
 * via them, host routes for addresses other nodes hold, including those borrowed from its own
 * blocks, and a blackhole for each of its own blocks). Without: every node's blocks and every
 * borrowed address, each via the node that has it. Blocks without an owner contribute host
 * routes for each address, via its holder.
 */
int bip_ipam_routes(struct bip_ipam *ipam, const char *for_node, struct bip_routes *out);
void bip_routes_free(struct bip_routes *r);

/* --- consistency ------------------------------------------------------------------------ */

enum bip_problem_kind {
	BIP_PROB_ADDR_NO_HANDLE,    /* an allocated address whose handle record is missing
				     * or does not list it */
	BIP_PROB_HANDLE_DANGLING,   /* a handle lists an address its block does not give it */
	BIP_PROB_BLOCK_NO_POOL,	    /* a block outside every pool */
	BIP_PROB_BLOCK_TWO_OWNERS,  /* two nodes' affinities name one block */
	BIP_PROB_AFFINITY_NO_BLOCK, /* a confirmed affinity whose block is missing */
	BIP_PROB_AFFINITY_MISMATCH, /* an affinity whose block names another node */
	BIP_PROB_AFFINITY_PENDING,  /* a pending affinity left over */
	BIP_PROB_BLOCK_CORRUPT,	    /* a record that does not decode or breaks invariants */
	BIP_PROB_ADDR_TWICE,	    /* one address held by two handles (never expected) */
};

struct bip_problem {
	enum bip_problem_kind kind;
	char *key;     /* the store key concerned */
	char *subject; /* address, handle, block or node, as text */
	char *detail;  /* one sentence */
	int64_t rev;   /* revision of the record the problem was found in, as read (the record
			* at key; for a block naming a node without an affinity, the block's);
			* 0 when that record is absent. A repair is conditioned on it. */
	bool fixable;  /* a repair exists (corrupt records and overlapping blocks need a person;
			* a block outside every pool can go only when empty) */
	bool repaired;
};

struct bip_check_report {
	struct bip_problem *v;
	size_t n;
	size_t blocks, handles, affinities, addresses; /* what was examined */
};

/* Check everything; with repair, fix what is safe (each fix its own atomic transaction,
 * conditioned on the record not having changed since it was read). */
int bip_ipam_check(struct bip_ipam *ipam, bool repair, struct bip_check_report *out);
/*
 * The check with repair, but a record is repaired only when want accepts every problem found on
 * it (each as found now, its revision included): "ipam release --from-report" repairs what a
 * report saw, and only where nothing changed since.
 */
int bip_ipam_check_repair_if(struct bip_ipam *ipam,
			     bool (*want)(void *ctx, const struct bip_problem *p), void *ctx,
			     struct bip_check_report *out);
void bip_check_report_free(struct bip_check_report *r);
const char *bip_problem_name(enum bip_problem_kind k);

#endif
