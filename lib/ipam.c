/*
 * The allocator. One request = one attempt after another until one commits:
 *
 *   read the handle (a repeated request returns what it holds), the config, the pools, the
 *   reservations, the node, the namespace and the node's affinities, all in ONE store request
 *   at one revision (bip_store_read: on etcd one round trip instead of seven), then the blocks
 *   it needs (together, where there are several); for each family pick the candidate pools
 *   (specific addresses > explicit pools > namespace pools > configured pools > automatic pools
 *   matching the node and namespace selectors); take free addresses from the node's own blocks,
 *   then from a newly claimed block (walk the pool from a start derived from the node name; the
 *   first block that does not exist wins), then, unless strictAffinity, borrow from other
 *   nodes' blocks; finally commit the handle record, every changed block, every new affinity
 *   and the pools used, in ONE store transaction conditioned on each of them being as read.
 *
 * A lost race (BIP_ECONFLICT) throws the attempt away and starts over after a jittered backoff;
 * past the retry budget the caller gets BIP_EAGAIN. Because the commit is conditioned on the
 * exact revisions read, no address can be handed out twice, and because it is one transaction,
 * no crash can leave a block change without its handle record or the other way round.
 *
 * Claiming a block is part of the same transaction: the block is created if absent and its
 * affinity created if absent, both or neither. That is the two-phase pending -> confirmed claim
 * of Calico collapsed into one atomic step, which needs no repair path: two nodes racing for one
 * block can never both own it, and a crash cannot leave a pending affinity behind.
 *
 * Within a block, never-used addresses go first (lowest first), then released ones, oldest
 * release first, so an address whose old connections may linger is reused last.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

void bip__attempt_clear(struct attempt *a)
{
	for (size_t i = 0; i < RD__N; i++)
		bip_kvs_free(&a->rec.kvs[i]);
	for (size_t i = 0; i < a->cache.npre; i++)
		bip_kv_clear(&a->cache.pre[i].kv);
	free(a->cache.pre);
	bip_pools_free(a->rec.pools, a->rec.npools);
	free(a->rec.pool_revs);
	free(a->pend.pool_used);
	free(a->rec.res);
	bip__label_set_clear(&a->rec.node_labels);
	bip__label_set_clear(&a->rec.ns_labels);
	bip_node_clear(&a->rec.node);
	bip_namespace_clear(&a->rec.ns);
	bip_handle_info_clear(&a->rec.held);
	for (size_t i = 0; i < a->cache.nblks; i++)
		bip__blk_free(a->cache.blks[i]);
	free(a->cache.blks);
	free(a->pend.new_aff);
	free(a->pend.new_aff_rev);
	free(a->cache.existing);
	free(a->own.aff);
	free(a->own.aff_rev);
	free(a->own.aff_free);
	free(a->own.aff_empty);
	free(a->pend.drop_aff);
	for (size_t i = 0; i < a->pend.ndrop; i++)
		free(a->pend.drop_node[i]);
	free(a->pend.drop_node);
	free(a->pend.out);
	free(a->own_ranges);
	memset(a, 0, sizeof(*a));
}

/*
 * Hold the store's writer lock across one attempt, where the store has one (see store.h). The
 * store bounds the wait by its timeout: past it (a frozen holder) the call answers BIP_EAGAIN.
 */
int bip__store_lock(struct bip_ipam *ip, bool on)
{
	int rc;

	if (!ip->store->ops->lock)
		return BIP_OK;
	rc = ip->store->ops->lock(ip->store, on);
	if (rc != BIP_OK && on)
		return bip__store_fail(ip, rc, "cannot take this node's store lock");
	return BIP_OK;
}

/* --- the request ------------------------------------------------------------------------ */

static int validate_req(struct bip_ipam *ip, const struct bip_alloc_req *req)
{
	if (!req || !bip__valid_handle(req->handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'",
				   req && req->handle ? req->handle : "");
	if (!bip__valid_name(req->node))
		return bip__seterr(ip, BIP_EINVAL, "invalid node name '%s'",
				   req->node ? req->node : "");
	if (req->namespace && !bip__valid_name(req->namespace))
		return bip__seterr(ip, BIP_EINVAL, "invalid namespace '%s'", req->namespace);
	if (!bip__valid_attr(req->attrs.namespace) || !bip__valid_attr(req->attrs.pod) ||
	    !bip__valid_attr(req->attrs.container) || !bip__valid_attr(req->attrs.ifname) ||
	    !bip__valid_attr(req->attrs.pod_uid))
		return bip__seterr(ip, BIP_EINVAL,
				   "invalid attribute (control characters or too long)");
	if (req->num4 + req->num6 + req->nips > MAX_PER_REQUEST || req->num4 > MAX_PER_REQUEST ||
	    req->num6 > MAX_PER_REQUEST)
		return bip__seterr(ip, BIP_EINVAL, "too many addresses in one request (at most %d)",
				   MAX_PER_REQUEST);
	for (size_t i = 0; i < req->nips; i++)
		for (size_t j = 0; j < i; j++)
			if (bip_addr_eq(req->ips[i], req->ips[j])) {
				char buf[BIP_ADDR_STRLEN];

				return bip__seterr(ip, BIP_EINVAL, "address %s requested twice",
						   bip_addr_fmt(req->ips[i], buf));
			}
	for (size_t i = 0; i < req->nranges; i++) {
		const struct bip_range *r = &req->ranges[i];
		char buf[BIP_PREFIX_STRLEN];

		if ((r->start.family && !bip_prefix_contains(r->subnet, r->start)) ||
		    (r->end.family && !bip_prefix_contains(r->subnet, r->end)) ||
		    (r->start.family && r->end.family && bip_addr_cmp(r->start, r->end) > 0))
			return bip__seterr(ip, BIP_EINVAL, "invalid range start/end in subnet %s",
					   bip_prefix_fmt(r->subnet, buf));
	}
	return BIP_OK;
}

void bip_pod_cidr_range(struct bip_prefix s, int set, struct bip_range *r)
{
	*r = (struct bip_range){.subnet = s, .set = set};
	if (bip_prefix_last_ordinal(s) >= 3) {
		r->gateway = bip_addr_next(bip_prefix_first(s));
		r->start = r->gateway;
		r->end = bip_prefix_last(s);
		if (s.addr.family == 4)
			r->end = bip_addr_prev(r->end);
	}
}

/* Pod CIDRs of the node as host-local ranges (gateway and first address skipped as host-local
 * does: the first address is the node's bridge, the last IPv4 one the broadcast). */
static int podcidr_ranges(struct attempt *a)
{
	a->own_ranges = bip__im_calloc(a->ip, a->rec.node.npod_cidrs + 1, sizeof(*a->own_ranges));
	if (!a->own_ranges)
		return BIP_ENOMEM;
	for (size_t i = 0; i < a->rec.node.npod_cidrs; i++)
		bip_pod_cidr_range(a->rec.node.pod_cidrs[i], (int)i, &a->own_ranges[i]);
	a->ranges = a->own_ranges;
	a->nranges = a->rec.node.npod_cidrs;
	return BIP_OK;
}

static int result_from(struct attempt *a, struct bip_alloc_result *out);

static int try_allocate(struct attempt *a)
{
	const struct bip_alloc_req *req = a->req;
	unsigned want[2] = {req->num4, req->num6};
	int fams[2] = {4, 6};
	bool podcidr = false;
	int rc;

	a->now = bip__now();
	rc = bip__read_context(a);
	if (rc == BIP_OK)
		rc = bip__use_handle(a,
				     a->rec.kvs[RD_HANDLE].n ? &a->rec.kvs[RD_HANDLE].v[0] : NULL);
	if (rc == BIP_OK)
		rc = bip__verify_held(a);
	if (rc == BIP_OK)
		rc = bip__use_context(a);
	if (rc != BIP_OK)
		return rc;
	a->ranges = req->ranges;
	a->nranges = req->nranges;
	if (!req->nranges && a->rec.have_node && a->rec.node.npod_cidrs && !req->ignore_pod_cidrs) {
		rc = podcidr_ranges(a);
		if (rc != BIP_OK)
			return rc;
		podcidr = true;
	}
	rc = bip__alloc_specific(a);
	if (rc == BIP_OK)
		rc = bip__prefetch_own(a, want, podcidr);
	if (rc != BIP_OK)
		return rc;
	for (int f = 0; f < 2; f++) {
		int fam = fams[f];
		unsigned have = bip__held_of(a, fam) + bip__out_of(a, fam);
		bool fam_ranges = false;
		bool specific = false;

		for (size_t i = 0; i < req->nips; i++)
			specific |= req->ips[i].family == fam;
		for (size_t i = 0; i < a->nranges; i++)
			fam_ranges |= a->ranges[i].subnet.addr.family == fam;
		if (specific)
			continue;
		if (req->nranges) {
			if (fam_ranges)
				rc = bip__alloc_ranges(a, fam, 0);
		} else if (want[f] > have) {
			if (podcidr && fam_ranges)
				rc = bip__alloc_ranges(a, fam, want[f] - have);
			else
				rc = bip__alloc_family(a, fam, want[f] - have);
		}
		if (rc != BIP_OK)
			return rc;
	}
	if (a->rec.held.naddrs + a->pend.nout > HANDLE_MAX_ADDRS)
		return bip__seterr(a->ip, BIP_EINVAL,
				   "handle '%s' would hold %zu addresses (at most %d)", req->handle,
				   a->rec.held.naddrs + a->pend.nout, HANDLE_MAX_ADDRS);
	rc = result_from(a, a->result);
	if (rc != BIP_OK || a->pend.nout == 0)
		return rc; /* nothing new: the handle holds it all */
	return bip__commit_alloc(a);
}

static int result_from(struct attempt *a, struct bip_alloc_result *out)
{
	size_t n = a->rec.held.naddrs + a->pend.nout, k = 0;
	struct bip_assigned *v = bip__im_calloc(a->ip, n, sizeof(*v));

	if (!v)
		return BIP_ENOMEM;
	/* IPv4 first, then IPv6; within a family, in the order held then new. */
	for (int fam = 4; fam <= 6; fam += 2) {
		for (size_t i = 0; i < a->rec.held.naddrs; i++) {
			struct bip_prefix p = a->rec.held.addrs[i];
			int ri = -1;

			if (p.addr.family != fam)
				continue;
			for (size_t j = 0; j < a->nranges && ri < 0; j++)
				if (bip_prefix_contains(a->ranges[j].subnet, p.addr))
					ri = (int)j;
			p.addr.v &= bip_mask(fam, p.len);
			v[k] = (struct bip_assigned){a->rec.held.addrs[i].addr, p, false, ri};
			if (ri >= 0) {
				v[k].range = a->ranges[ri].subnet;
			} else {
				struct bip_addr keep[3];
				struct bip_prefix sub;

				if (bip__subnet_of(a, p, &sub, keep)) {
					v[k].subnet = sub;
					v[k].gateway = keep[1];
				}
			}
			k++;
		}
		for (size_t i = 0; i < a->pend.nout; i++)
			if (a->pend.out[i].addr.family == fam)
				v[k++] = a->pend.out[i];
	}
	out->v = v;
	out->n = k;
	out->existing = a->pend.nout == 0 && a->rec.have_handle;
	return BIP_OK;
}

struct allocate_ctx {
	const struct bip_alloc_req *req;
	struct bip_alloc_result *out;
};

/* One attempt under the store's writer lock. The result is built before the commit, so nothing
 * can fail after it. */
static int allocate_once(struct bip_ipam *ip, void *ctx)
{
	struct allocate_ctx *c = ctx;
	struct attempt a = {.ip = ip, .req = c->req};
	struct bip_alloc_result res = {0};
	int rc;

	a.result = &res;
	rc = bip__store_lock(ip, true);
	if (rc != BIP_OK)
		return rc;
	rc = try_allocate(&a);
	if (rc == BIP_OK)
		bip__tidy_own_blocks(&a);
	bip__store_lock(ip, false);
	if (rc == BIP_OK)
		*c->out = res;
	else
		bip_alloc_result_free(&res);
	bip__attempt_clear(&a);
	return rc;
}

int bip_ipam_allocate(struct bip_ipam *ip, const struct bip_alloc_req *req,
		      struct bip_alloc_result *out)
{
	struct allocate_ctx c = {req, out};
	char what[BIP_HANDLE_MAX + 8];
	int rc;

	ip->errmsg[0] = '\0';
	rc = validate_req(ip, req);
	if (rc != BIP_OK)
		return rc;
	snprintf(what, sizeof(what), "'%s'", req->handle);
	rc = bip__retry(ip, allocate_once, &c, what);
	bip__name_handle(ip, rc, "allocating", req->handle);
	return rc;
}

void bip_alloc_result_free(struct bip_alloc_result *res)
{
	if (!res)
		return;
	free(res->v);
	res->v = NULL;
	res->n = 0;
}

/* The owner's affinity of a changed block carries its new free count. */
int bip__put_free_count(struct bip_ipam *ip, struct bip__txn *t, const struct blk *b)
{
	char key[KEY_LEN];
	const char *k;
	size_t len;
	char *v;

	if (!b->node)
		return BIP_OK;
	bip__key_affinity(key, b->node, b->cidr);
	k = bip__txn_key(ip, t, key);
	v = k ? bip__affinity_encode(ip, b->size - b->used, b->used ? 0 : b->empty_since, &len)
	      : NULL;
	if (!v)
		return BIP_ENOMEM;
	bip__txn_put(ip, t, k, v, len);
	return BIP_OK;
}

/* --- lifecycle of the handle object ----------------------------------------------------- */

int bip_ipam_new(struct bip_store *store, struct bip_ipam **out)
{
	struct bip_ipam *ip;
	struct timespec ts;

	if (!store)
		return BIP_EINVAL;
	ip = calloc(1, sizeof(*ip));
	if (!ip)
		return BIP_ENOMEM;
	ip->store = store;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ip->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
		  0x9e3779b97f4a7c15ull;
	*out = ip;
	return BIP_OK;
}

void bip_ipam_free(struct bip_ipam *ip)
{
	free(ip);
}

const char *bip_ipam_errmsg(const struct bip_ipam *ip)
{
	return ip ? ip->errmsg : "";
}

uint64_t bip_ipam_retries(const struct bip_ipam *ip)
{
	return ip->retries;
}

void bip_ipam_fail_alloc_after(struct bip_ipam *ip, long n)
{
	ip->fail_after = n;
	ip->nallocs = 0;
	ip->fail_once = false;
}

int bip_ipam_handle_get(struct bip_ipam *ip, const char *handle, struct bip_handle_info *out)
{
	struct attempt a = {.ip = ip};
	struct bip_alloc_req req = {.handle = handle};
	int rc;

	ip->errmsg[0] = '\0';
	if (!bip__valid_handle(handle))
		return bip__seterr(ip, BIP_EINVAL, "invalid handle '%s'", handle ? handle : "");
	a.req = &req;
	rc = bip__read_handle(&a);
	if (rc == BIP_OK && !a.rec.have_handle)
		rc = bip__seterr(ip, BIP_ENOTFOUND, "handle '%s' holds no address", handle);
	if (rc == BIP_OK) {
		*out = a.rec.held;
		out->rev = a.rec.handle_rev;
		memset(&a.rec.held, 0, sizeof(a.rec.held));
	}
	bip__attempt_clear(&a);
	return rc;
}
