/*
 * Block mode: taking addresses from a block (never-used first, then the longest free, past the
 * cooldown and the reservations), the node's own blocks, claiming a new block (walking the pool
 * from a start derived from the node name; the first block that does not exist wins), taking
 * over another node's long-empty block, and borrowing from other nodes' blocks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc_int.h"

/*
 * The main plugin's subnet around block blk under the request's rule for its family, and the
 * addresses it keeps out: keep[0] the network address, keep[1] the gateway, keep[2] the IPv4
 * broadcast address (family 0 = none). False (nothing kept out) when the family is routed.
 */
bool bip__subnet_of(const struct attempt *a, struct bip_prefix blk, struct bip_prefix *sub,
		    struct bip_addr keep[3])
{
	const struct bip_subnet_rule *r = &a->req->subnet[blk.addr.family == 6];
	const struct bip_pool *p;

	memset(keep, 0, 3 * sizeof(*keep));
	*sub = blk;
	if (r->kind == BIP_SUBNET_NONE)
		return false;
	if (r->kind == BIP_SUBNET_POOL) {
		p = bip__pool_of(a->rec.pools, a->rec.npools, blk);
		if (!p)
			return false;
		*sub = p->cidr;
	}
	keep[0] = bip_prefix_first(*sub);
	keep[1] = bip_addr_next(keep[0]);
	if (r->kind == BIP_SUBNET_POOL && bip_prefix_contains(*sub, r->gateway))
		keep[1] = r->gateway;
	if (sub->addr.family == 4)
		keep[2] = bip_prefix_last(*sub);
	return true;
}

/* Which of keep (bip__subnet_of) addr is: 0 network, 1 gateway, 2 broadcast; -1 none. */
int bip__kept_out(const struct bip_addr *keep, struct bip_addr addr)
{
	for (int i = 0; keep && i < 3; i++)
		if (keep[i].family && bip_addr_eq(keep[i], addr))
			return i;
	return -1;
}

int bip__push_out(struct attempt *a, struct bip_addr addr, struct bip_prefix block, bool borrowed,
		  int range_index)
{
	struct bip_assigned *v =
	    bip__im_realloc(a->ip, a->pend.out, (a->pend.nout + 1) * sizeof(*v));
	struct bip_addr keep[3];
	struct bip_prefix sub;

	if (!v)
		return BIP_ENOMEM;
	a->pend.out = v;
	a->pend.out[a->pend.nout] = (struct bip_assigned){addr, block, borrowed, range_index};
	if (range_index >= 0)
		a->pend.out[a->pend.nout].range = a->ranges[range_index].subnet;
	else if (bip__subnet_of(a, block, &sub, keep)) {
		a->pend.out[a->pend.nout].subnet = sub;
		a->pend.out[a->pend.nout].gateway = keep[1];
	}
	a->pend.nout++;
	return BIP_OK;
}

/* A released address within ipCooldownSeconds of its release. A clock that went back makes
 * the wait longer, one that jumped ahead shorter: never an address handed out twice. */
bool bip__cooling(const struct attempt *a, const struct blk *b, uint32_t o)
{
	return a->rec.cfg.ip_cooldown_s && b->freed_at[o] &&
	       a->now - b->freed_at[o] < (int64_t)a->rec.cfg.ip_cooldown_s;
}

static bool ordinal_ok(const struct attempt *a, const struct blk *b, uint32_t o,
		       const struct bip_range *r, const struct bip_addr *keep)
{
	struct bip_addr addr = bip_prefix_nth(b->cidr, o);

	if (b->handle[o] || bip__addr_reserved(a->rec.res, a->rec.nres, addr) ||
	    bip__cooling(a, b, o) || bip__kept_out(keep, addr) >= 0)
		return false;
	if (r) {
		if (r->start.family && bip_addr_cmp(addr, r->start) < 0)
			return false;
		if (r->end.family && bip_addr_cmp(addr, r->end) > 0)
			return false;
		if (r->gateway.family && bip_addr_eq(addr, r->gateway))
			return false;
	}
	return true;
}

/* Take up to *need addresses from b; never-used first, then the longest free. */
int bip__take_from(struct attempt *a, struct blk *b, unsigned *need, const struct bip_range *r,
		   int range_index)
{
	const char *node = a->req->node;
	bool borrowed = r == NULL && (!b->node || strcmp(b->node, node) != 0);
	struct bip_addr keep[3];
	struct bip_prefix sub;
	bool l2 = r == NULL && bip__subnet_of(a, b->cidr, &sub, keep);
	int rc;

	for (uint32_t o = 0; *need && o < b->size; o++) {
		if (b->inq[o] || !ordinal_ok(a, b, o, r, l2 ? keep : NULL))
			continue;
		rc = bip__blk_take(a->ip, b, o, a->req->handle, node);
		if (rc == BIP_OK)
			rc = bip__push_out(a, bip_prefix_nth(b->cidr, o), b->cidr, borrowed,
					   range_index);
		if (rc != BIP_OK)
			return rc;
		(*need)--;
	}
	for (uint32_t i = 0; *need && i < b->nfreed;) {
		uint32_t o = b->freed[i];

		if (!ordinal_ok(a, b, o, r, l2 ? keep : NULL)) {
			i++;
			continue;
		}
		rc = bip__blk_take(a->ip, b, o, a->req->handle, node); /* removes it from freed */
		if (rc == BIP_OK)
			rc = bip__push_out(a, bip_prefix_nth(b->cidr, o), b->cidr, borrowed,
					   range_index);
		if (rc != BIP_OK)
			return rc;
		(*need)--;
	}
	return BIP_OK;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool fully_reserved(const struct attempt *a, struct bip_prefix blk)
{
	for (size_t i = 0; i < a->rec.nres; i++)
		if (bip_prefix_covers(a->rec.res[i], blk))
			return true;
	return false;
}

/* The first block of pool p, walking from the node's start, that overlaps no existing block. */
static int find_unclaimed(struct attempt *a, const struct bip_pool *p, struct bip_prefix *out)
{
	bip_u128 last, start, k;
	uint64_t steps = 0, max_steps;
	int rc = bip__need_existing(a);

	if (rc != BIP_OK)
		return rc;
	if (bip_prefix_subcount(p->cidr, p->block_len, &last) != BIP_OK)
		return BIP_EEXHAUSTED;
	start = last == ~(bip_u128)0 ? fnv1a(a->req->node) : fnv1a(a->req->node) % (last + 1);
	/* Every block that exists can be skipped once; beyond that, only reserved ones. */
	max_steps = a->cache.nexisting + a->rec.nres * 64 + 1024;
	for (k = start;; k = k == last ? 0 : k + 1) {
		struct bip_prefix cand;

		if (bip_prefix_sub(p->cidr, p->block_len, k, &cand) != BIP_OK)
			return BIP_EINVAL;
		if (!bip__overlaps_existing(a, cand) && !fully_reserved(a, cand)) {
			*out = cand;
			return BIP_OK;
		}
		if (++steps > last || steps > max_steps)
			return BIP_EEXHAUSTED;
	}
}

static bool in_candidates(const struct attempt *a, const size_t *idx, size_t n,
			  struct bip_prefix blk)
{
	for (size_t i = 0; i < n; i++)
		if (bip_prefix_covers(a->rec.pools[idx[i]].cidr, blk))
			return true;
	return false;
}

/* One of this node's affinities (affinity/<node>/<cidr>), with its free-address count. */
int bip__collect_affinity(void *ctx, const struct bip_kv *kv)
{
	struct attempt *a = ctx;
	const char *part = kv->key + strlen(PFX_AFFINITY) + strlen(a->req->node) + 1;
	struct bip_prefix p;
	enum aff_state st;
	long nfree;
	int64_t es;

	if (bip__cidr_from_keypart(part, &p) != BIP_OK ||
	    bip__affinity_decode(kv->value, kv->len, &st, &nfree, &es) != BIP_OK)
		return 0; /* the check reports it; allocation does without it */
	if (a->own.naff == a->own.capaff) {
		size_t cap = a->own.capaff ? a->own.capaff * 2 : 16;
		struct bip_prefix *v = bip__im_realloc(a->ip, a->own.aff, cap * sizeof(*v));
		int64_t *r, *e;
		long *f;

		if (!v)
			return BIP_ENOMEM;
		a->own.aff = v;
		r = bip__im_realloc(a->ip, a->own.aff_rev, cap * sizeof(*r));
		if (!r)
			return BIP_ENOMEM;
		a->own.aff_rev = r;
		f = bip__im_realloc(a->ip, a->own.aff_free, cap * sizeof(*f));
		if (!f)
			return BIP_ENOMEM;
		a->own.aff_free = f;
		e = bip__im_realloc(a->ip, a->own.aff_empty, cap * sizeof(*e));
		if (!e)
			return BIP_ENOMEM;
		a->own.aff_empty = e;
		a->own.capaff = cap;
	}
	a->own.aff[a->own.naff] = p;
	a->own.aff_empty[a->own.naff] = es;
	a->own.aff_rev[a->own.naff] = kv->rev;
	a->own.aff_free[a->own.naff++] = nfree;
	return 0;
}

/* This node's affinities, with the free-address counts they carry. */
int bip__need_affinities(struct attempt *a)
{
	char pfx[KEY_LEN];
	int64_t rev;
	int rc;

	if (a->own.have_aff)
		return BIP_OK;
	a->own.have_aff = true;
	snprintf(pfx, sizeof(pfx), PFX_AFFINITY "%s/", a->req->node);
	rc = bip_store_list_cb(a->ip->store, pfx, 0, bip__collect_affinity, a, &rev);
	if (rc != BIP_OK && rc != BIP_ENOMEM)
		bip__store_fail(a->ip, rc, "cannot list %s", pfx);
	return rc;
}

unsigned bip__held_of(const struct attempt *a, int fam)
{
	unsigned n = 0;

	for (size_t i = 0; i < a->rec.held.naddrs; i++)
		n += a->rec.held.addrs[i].addr.family == fam;
	return n;
}

unsigned bip__out_of(const struct attempt *a, int fam)
{
	unsigned n = 0;

	for (size_t i = 0; i < a->pend.nout; i++)
		n += a->pend.out[i].addr.family == fam;
	return n;
}

/*
 * The block step 1 of bip__alloc_family reads first for each family (the node's first block with
 * room in the first candidate pool that has one), read ahead together: a dual-stack request
 * then reads its two blocks in one request. Uses the affinities bip__read_context read. Pool
 * selection failures are left for bip__alloc_family to report where it always did (the message is
 * put back); running out of memory is not.
 */
int bip__prefetch_own(struct attempt *a, const unsigned *want, bool podcidr)
{
	const struct bip_alloc_req *req = a->req;
	struct bip_prefix first[2];
	size_t n = 0;
	int rc = BIP_OK;

	if (req->nranges || !a->own.have_aff)
		return BIP_OK;
	for (int f = 0; f < 2 && rc == BIP_OK; f++) {
		int fam = f ? 6 : 4;
		char saved[sizeof(a->ip->errmsg)];
		bool skip = want[f] <= bip__held_of(a, fam) + bip__out_of(a, fam), ranges = false;
		bool found = false;
		size_t *idx, k = 0;

		for (size_t i = 0; i < req->nips; i++)
			skip |= req->ips[i].family == fam; /* specific addresses only */
		for (size_t i = 0; i < a->nranges; i++)
			ranges |= a->ranges[i].subnet.addr.family == fam;
		if (skip || (podcidr && ranges))
			continue;
		idx = bip__im_calloc(a->ip, a->rec.npools + 1, sizeof(*idx));
		if (!idx)
			return BIP_ENOMEM;
		memcpy(saved, a->ip->errmsg, sizeof(saved));
		rc = bip__candidate_pools(a, fam, idx, &k);
		if (rc != BIP_OK && rc != BIP_ENOMEM) {
			memcpy(a->ip->errmsg, saved, sizeof(saved));
			rc = BIP_OK;
			k = 0;
		}
		for (size_t pi = 0; pi < k && !found; pi++)
			for (size_t i = 0; i < a->own.naff && !found; i++)
				if (bip_prefix_covers(a->rec.pools[idx[pi]].cidr, a->own.aff[i]) &&
				    (a->own.aff_free[i] != 0 ||
				     bip__cached_blk(a, a->own.aff[i]))) {
					first[n++] = a->own.aff[i];
					found = true;
				}
		free(idx);
	}
	return rc == BIP_OK ? bip__prefetch_blks(a, first, n) : rc;
}

/*
 * Another node's block in pool p that has been empty long enough (min(emptyBlockReleaseSeconds,
 * BIP_RECLAIM_MIN_AGE)) to be taken over by this node, which found no unclaimed block left: the
 * block becomes this node's and the old owner's affinity goes, in the attempt's one commit,
 * conditioned on the block being as read, so a block that took an address meanwhile stays with
 * its node (a wrong clock can only make the take-over early or late). Calico (v3.32) does the
 * same after 60 s. At most RECLAIM_SCAN blocks of the pool are read, in one request, walking
 * from the node's start as claims do; one that does not decode is passed over (the check
 * reports it). *out NULL when there is none.
 */
#define RECLAIM_SCAN BIP_READ_MAX

static int reclaim_empty(struct attempt *a, const struct bip_pool *p, struct blk **out)
{
	unsigned age = a->rec.cfg.empty_block_release_s;
	struct bip_prefix *cand = NULL;
	size_t ncand = 0, first = 0, cnt = 0;
	int rc;

	*out = NULL;
	if (!age)
		return BIP_OK;
	if (age > BIP_RECLAIM_MIN_AGE)
		age = BIP_RECLAIM_MIN_AGE;
	rc = bip__need_existing(a);
	if (rc != BIP_OK)
		return rc;
	for (size_t i = 0; i < a->cache.nexisting; i++)
		if (bip_prefix_covers(p->cidr, a->cache.existing[i]) && !cnt++)
			first = i;
	if (!cnt)
		return BIP_OK;
	cand = bip__im_calloc(a->ip, cnt < RECLAIM_SCAN ? cnt : RECLAIM_SCAN, sizeof(*cand));
	if (!cand)
		return BIP_ENOMEM;
	/* The pool's blocks are contiguous in the sorted list: walk them from the node's start. */
	for (size_t s = 0, start = (size_t)(fnv1a(a->req->node) % cnt);
	     s < cnt && ncand < RECLAIM_SCAN; s++) {
		struct bip_prefix c = a->cache.existing[first + (start + s) % cnt];
		bool mine = false;

		for (size_t i = 0; i < a->own.naff && !mine; i++)
			mine = bip_prefix_eq(a->own.aff[i], c);
		if (!mine && bip_prefix_covers(p->cidr, c) && !fully_reserved(a, c))
			cand[ncand++] = c;
	}
	rc = bip__prefetch_blks(a, cand, ncand);
	for (size_t i = 0; rc == BIP_OK && i < ncand; i++) {
		char saved[sizeof(a->ip->errmsg)];
		struct blk *b;
		char *old;

		memcpy(saved, a->ip->errmsg, sizeof(saved));
		rc = bip__get_blk(a, cand[i], &b);
		if (rc == BIP_ECORRUPT) {
			memcpy(a->ip->errmsg, saved, sizeof(saved));
			rc = BIP_OK;
			continue;
		}
		if (rc != BIP_OK || !b || b->used || b->dirty || b->hostlocal || !b->node ||
		    strcmp(b->node, a->req->node) == 0 || !b->empty_since ||
		    a->now - b->empty_since < (int64_t)age)
			continue;
		/* Take it over: the old owner's affinity goes, ours comes (must not exist). On
		 * failure the attempt is thrown away, so a half-made change does not matter. */
		rc = BIP_ENOMEM;
		old = b->node;
		b->node = bip__im_strdup(a->ip, a->req->node);
		if (!b->node) {
			b->node = old;
			break;
		}
		rc = bip__drop_aff(a, b->cidr, old);
		if (rc == BIP_OK)
			rc = bip__add_new_aff(a, b->cidr, 0);
		if (rc != BIP_OK)
			break;
		b->claimed = a->now;
		b->dirty = true;
		*out = b;
		rc = BIP_OK;
		break;
	}
	free(cand);
	return rc;
}

/* One family's block-mode walk: the candidate pools and what the steps have found. */
struct fam_walk {
	struct attempt *a;
	int fam;
	const struct bip_subnet_rule *rule;
	unsigned max;	/* the main plugin's model: only the node's first max blocks (0: any) */
	size_t *idx, n; /* candidate pools, by index in a->rec.pools */
	unsigned need, owned, mine;
	bool limit;		/* maxBlocksPerHost reached */
	struct bip_prefix last; /* the last block looked at, for the error text */
};

/* 1. The node's own blocks, in candidate pool order. */
static int take_own(struct fam_walk *w)
{
	struct attempt *a = w->a;
	const char *node = a->req->node;
	int rc;

	for (size_t pi = 0; pi < w->n && w->need; pi++) {
		for (size_t i = 0; i < a->own.naff && w->need; i++) {
			struct blk *b;

			if (!bip_prefix_covers(a->rec.pools[w->idx[pi]].cidr, a->own.aff[i]))
				continue;
			if (w->max && w->mine++ >= w->max)
				continue;
			w->last = a->own.aff[i];
			/* Full by its affinity's count, and not changed in this attempt: the
			 * block need not be read at all. */
			if (a->own.aff_free[i] == 0 && !bip__cached_blk(a, a->own.aff[i]))
				continue;
			rc = bip__get_blk(a, a->own.aff[i], &b);
			if (rc == BIP_OK &&
			    !b) /* an affinity left without its block: claim it again */
				rc = bip__new_blk(a, a->own.aff[i], node, a->own.aff_rev[i], &b);
			if (rc != BIP_OK)
				return rc;
			if (b->node && strcmp(b->node, node) != 0)
				continue; /* stale affinity: the check reports it */
			if (!b->node) {
				b->node = bip__im_strdup(a->ip, node);
				if (!b->node)
					return BIP_ENOMEM;
				b->dirty = true;
				a->pend.pool_used[w->idx[pi]] = true;
			}
			rc = bip__take_from(a, b, &w->need, NULL, -1);
			if (rc != BIP_OK)
				return rc;
		}
	}
	for (size_t i = 0; i < a->own.naff; i++)
		w->owned += a->own.aff[i].addr.family == w->fam &&
			    in_candidates(a, w->idx, w->n, a->own.aff[i]);
	return BIP_OK;
}

/* Whether the node may hold one block more (sets w->limit at maxBlocksPerHost). */
static bool may_claim(struct fam_walk *w)
{
	unsigned cap = w->a->rec.cfg.max_blocks_per_host;

	if (cap && w->owned >= cap) {
		w->limit = true;
		return false;
	}
	return !(w->max && w->owned >= w->max);
}

/* 2. New blocks. */
static int take_new(struct fam_walk *w)
{
	struct attempt *a = w->a;
	int rc;

	for (size_t pi = 0; pi < w->n && w->need && a->rec.cfg.auto_allocate_blocks;) {
		struct bip_prefix cidr;
		struct blk *b;

		if (!may_claim(w))
			break;
		rc = find_unclaimed(a, &a->rec.pools[w->idx[pi]], &cidr);
		if (rc == BIP_EEXHAUSTED) {
			pi++;
			continue;
		}
		if (rc == BIP_OK)
			rc = bip__new_blk(a, cidr, a->req->node, 0, &b);
		if (rc != BIP_OK)
			return rc;
		a->pend.pool_used[w->idx[pi]] = true;
		w->owned++;
		w->last = cidr;
		rc = bip__take_from(a, b, &w->need, NULL, -1);
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

/* 2b. No unclaimed block left: take over another node's long-empty one. */
static int take_reclaimed(struct fam_walk *w)
{
	struct attempt *a = w->a;
	int rc;

	for (size_t pi = 0; pi < w->n && w->need && a->rec.cfg.auto_allocate_blocks && !w->limit;) {
		struct blk *b = NULL;

		if (!may_claim(w))
			break;
		rc = reclaim_empty(a, &a->rec.pools[w->idx[pi]], &b);
		if (rc != BIP_OK)
			return rc;
		if (!b) {
			pi++;
			continue;
		}
		a->pend.pool_used[w->idx[pi]] = true;
		w->owned++;
		rc = bip__take_from(a, b, &w->need, NULL, -1); /* the same pool may have more */
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

/* 3. Borrow from other nodes' blocks (and unowned ones) of pool p, walking its blocks from a
 * node-derived start, as for claims. */
static int borrow_from(struct fam_walk *w, const struct bip_pool *p)
{
	struct attempt *a = w->a;
	size_t cnt = 0, start;
	int rc = BIP_OK;

	for (size_t i = 0; i < a->cache.nexisting; i++)
		cnt += bip_prefix_covers(p->cidr, a->cache.existing[i]);
	if (!cnt)
		return BIP_OK;
	start = (size_t)(fnv1a(a->req->node) % cnt);
	for (size_t s = 0; s < cnt && w->need; s++) {
		size_t want = (start + s) % cnt, seen = 0;
		struct blk *b = NULL;

		for (size_t i = 0; i < a->cache.nexisting; i++) {
			if (!bip_prefix_covers(p->cidr, a->cache.existing[i]))
				continue;
			if (seen++ != want)
				continue;
			rc = bip__get_blk(a, a->cache.existing[i], &b);
			break;
		}
		if (rc != BIP_OK)
			return rc;
		if (!b || (b->node && strcmp(b->node, a->req->node) == 0))
			continue;
		rc = bip__take_from(a, b, &w->need, NULL, -1);
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

/* Why addresses are still needed after every step. */
static int no_room(struct fam_walk *w)
{
	struct attempt *a = w->a;
	const char *node = a->req->node;
	bool strict = a->rec.cfg.strict_affinity;
	char bs[BIP_PREFIX_STRLEN];
	const struct bip_pool *lp = bip__pool_of(a->rec.pools, a->rec.npools, w->last);
	unsigned max = w->max;
	int fam = w->fam;

	if (max && w->owned >= max && lp)
		return bip__seterr(a->ip, BIP_EBLOCKLIMIT,
				   "node '%s' uses %u IPv%d block%s as its subnet and %s is full "
				   "(pool '%s', blockSize %u: %llu addresses, %d kept out as "
				   "network, gateway%s)",
				   node, max, fam, max > 1 ? "s" : "", bip_prefix_fmt(w->last, bs),
				   lp->name, lp->block_len,
				   (unsigned long long)bip_prefix_last_ordinal(w->last) + 1,
				   fam == 4 ? 3 : 2, fam == 4 ? " and broadcast" : "");
	if (w->limit)
		return bip__seterr(a->ip, BIP_EBLOCKLIMIT,
				   "node '%s' holds its limit of %u IPv%d blocks "
				   "(maxBlocksPerHost) and no address could be borrowed%s",
				   node, a->rec.cfg.max_blocks_per_host, fam,
				   strict ? " (strictAffinity is on)" : "");
	return bip__seterr(
	    a->ip, BIP_EEXHAUSTED, "no free IPv%d address for node '%s' in pool%s %s%s%s", fam,
	    node, w->n > 1 ? "s" : "", a->rec.pools[w->idx[0]].name, w->n > 1 ? ", ..." : "",
	    strict		 ? " (strictAffinity is on: no borrowing)"
	    : w->rule->no_borrow ? " (the main plugin's subnet is a block of this node: "
				   "no borrowing)"
				 : "");
}

/* Block mode for one family: own blocks, new blocks, long-empty blocks, borrowed addresses. */
int bip__alloc_family(struct attempt *a, int fam, unsigned need)
{
	const struct bip_subnet_rule *rule = &a->req->subnet[fam == 6];
	struct fam_walk w = {.a = a, .fam = fam, .rule = rule, .need = need};
	int rc;

	w.max = rule->kind == BIP_SUBNET_BLOCK ? rule->max_blocks : 0;
	w.idx = bip__im_calloc(a->ip, a->rec.npools + 1, sizeof(*w.idx));
	if (!w.idx)
		return BIP_ENOMEM;
	rc = bip__candidate_pools(a, fam, w.idx, &w.n);
	if (rc == BIP_OK)
		rc = bip__need_affinities(a);
	if (rc == BIP_OK)
		rc = take_own(&w);
	if (rc == BIP_OK)
		rc = take_new(&w);
	if (rc == BIP_OK)
		rc = take_reclaimed(&w);
	if (rc == BIP_OK && w.need && !a->rec.cfg.strict_affinity && !rule->no_borrow) {
		rc = bip__need_existing(a);
		for (size_t pi = 0; rc == BIP_OK && pi < w.n && w.need; pi++)
			rc = borrow_from(&w, &a->rec.pools[w.idx[pi]]);
	}
	if (rc == BIP_OK && w.need)
		rc = no_room(&w);
	free(w.idx);
	return rc;
}

/*
 * A range of more than 2^8 addresses (an IPv4 /16, an IPv6 /64 pod CIDR) is kept as sub-blocks
 * of 2^8 (/24, /120), made as they fill. One record is read, decoded, re-encoded and rewritten
 * per allocation, so its size is the cost: a /16 kept whole cost 12.5 ms per CNI ADD with 5,000
 * held against 3 ms empty; a sub-block holds at most 256.
 */
