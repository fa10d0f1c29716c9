/*
 * The consistency check and its repairs: the scan (blocks, then handles, streamed), overlaps,
 * blocks outside every pool, and the report. Handles and affinities are judged in
 * bip__ck_handles.c and bip__ck_affinities.c.
 *
 * The check streams blocks and handles (never holding every record's text at once), indexes
 * handles by id in a hash table, and cross-checks both directions. Repairs never free an address
 * that some handle may still use: a missing handle record is rebuilt (on the node that holds its
 * addresses, with the CNI container and interface when the id splits one way), a handle naming
 * an address its block does not give it loses that address, stray affinities are deleted; each
 * repair is one transaction conditioned on the records being as read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "internal.h"

const char *bip_problem_name(enum bip_problem_kind k)
{
	static const char *const names[] = {
	    [BIP_PROB_ADDR_NO_HANDLE] = "address-without-handle",
	    [BIP_PROB_HANDLE_DANGLING] = "handle-names-free-address",
	    [BIP_PROB_BLOCK_NO_POOL] = "block-outside-pools",
	    [BIP_PROB_BLOCK_TWO_OWNERS] = "block-with-two-owners",
	    [BIP_PROB_AFFINITY_NO_BLOCK] = "affinity-without-block",
	    [BIP_PROB_AFFINITY_MISMATCH] = "affinity-mismatch",
	    [BIP_PROB_AFFINITY_PENDING] = "pending-affinity",
	    [BIP_PROB_BLOCK_CORRUPT] = "corrupt-record",
	    [BIP_PROB_ADDR_TWICE] = "address-held-twice",
	};

	if ((unsigned)k >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[k];
}

void bip_check_report_free(struct bip_check_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].key);
		free(r->v[i].subject);
		free(r->v[i].detail);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

void bip__ck_last(struct checker *c, int64_t rev, bool fixable)
{
	if (c->rep->n) {
		c->rep->v[c->rep->n - 1].rev = rev;
		c->rep->v[c->rep->n - 1].fixable = fixable;
	}
}

bool bip__ck_may_repair(const struct checker *c, size_t first, size_t last)
{
	if (!c->repair)
		return false;
	for (size_t i = first; c->want && i < last; i++)
		if (!c->want(c->want_ctx, &c->rep->v[i]))
			return false;
	return true;
}

int bip__ck_problem(struct checker *c, enum bip_problem_kind kind, const char *key,
		    const char *subject, const char *fmt, ...)
{
	struct bip_problem *v;
	char detail[512];
	va_list ap;

	v = bip__im_realloc(c->ip, c->rep->v, (c->rep->n + 1) * sizeof(*v));
	if (!v)
		return BIP_ENOMEM;
	c->rep->v = v;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	v = &c->rep->v[c->rep->n];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->key = bip__im_strdup(c->ip, key);
	v->subject = bip__im_strdup(c->ip, subject);
	v->detail = bip__im_strdup(c->ip, detail);
	c->rep->n++;
	if (!v->key || !v->subject || !v->detail)
		return BIP_ENOMEM;
	return BIP_OK;
}

static int intern_handle(struct checker *c, const char *id, size_t *idx)
{
	struct c_handle *h;

	if (bip__smap_get(&c->hmap, id, idx))
		return BIP_OK;
	if (c->nhandles == c->caph) {
		size_t cap = c->caph ? c->caph * 2 : 256;
		struct c_handle *v = bip__im_realloc(c->ip, c->handles, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		c->handles = v;
		c->caph = cap;
		/* the map holds pointers to ids, which do not move */
	}
	h = &c->handles[c->nhandles];
	memset(h, 0, sizeof(*h));
	h->id = bip__arena_alloc(c->ip, &c->arena, strlen(id) + 1);
	if (!h->id)
		return BIP_ENOMEM;
	strcpy(h->id, id);
	*idx = c->nhandles++;
	return bip__smap_put(c->ip, &c->hmap, h->id, *idx);
}

static int on_check_block(void *ctx, const struct bip_kv *kv, struct blk *b)
{
	struct checker *c = ctx;
	struct c_block *cb;
	char cs[BIP_PREFIX_STRLEN];
	const char *kp = kv->key + strlen(PFX_BLOCKS), *holder;
	int rc;

	c->rep->blocks++;
	if (!b) {
		rc = bip__ck_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, kp,
				     "the block record does not decode or breaks its invariants");
		bip__ck_last(c, kv->rev, false);
		return rc;
	}
	bip__cidr_keypart(b->cidr, cs);
	if (strcmp(cs, kp) != 0) {
		rc = bip__ck_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, kp,
				     "the record holds block %s, not the one its key names", cs);
		bip__ck_last(c, kv->rev, false);
		return rc;
	}
	if (c->nblocks == c->capb) {
		size_t cap = c->capb ? c->capb * 2 : 256;
		struct c_block *v = bip__im_realloc(c->ip, c->blocks, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		c->blocks = v;
		c->capb = cap;
	}
	cb = &c->blocks[c->nblocks];
	memset(cb, 0, sizeof(*cb));
	cb->cidr = b->cidr;
	cb->rev = b->rev;
	cb->empty = b->used == 0;
	if (b->node) {
		cb->node = bip__im_strdup(c->ip, b->node);
		if (!cb->node)
			return BIP_ENOMEM;
	}
	c->nblocks++;
	if (!b->hostlocal && !bip__pool_of(c->pools, c->npools, b->cidr)) {
		rc = bip__ck_problem(
		    c, BIP_PROB_BLOCK_NO_POOL, kv->key, bip_prefix_fmt(b->cidr, cs),
		    "block %s lies outside every pool (%u addresses in use)", cs, b->used);
		if (rc != BIP_OK)
			return rc;
		bip__ck_last(c, b->rev, b->used == 0);
	}
	for (uint32_t o = 0; o < b->size; o++) {
		size_t hi;

		if (!b->handle[o])
			continue;
		rc = intern_handle(c, b->handle[o], &hi);
		if (rc != BIP_OK)
			return rc;
		holder = b->holder && b->holder[o] ? b->holder[o] : b->node;
		if (holder && !c->handles[hi].node) {
			c->handles[hi].node =
			    bip__arena_alloc(c->ip, &c->arena, strlen(holder) + 1);
			if (!c->handles[hi].node)
				return BIP_ENOMEM;
			strcpy(c->handles[hi].node, holder);
		}
		if (c->nallocs == c->capa) {
			size_t cap = c->capa ? c->capa * 2 : 1024;
			struct c_alloc *v = bip__im_realloc(c->ip, c->allocs, cap * sizeof(*v));

			if (!v)
				return BIP_ENOMEM;
			c->allocs = v;
			c->capa = cap;
		}
		c->allocs[c->nallocs++] = (struct c_alloc){
		    bip_prefix_nth(b->cidr, o).v, (uint32_t)hi, b->cidr.addr.family, b->cidr.len};
		c->rep->addresses++;
	}
	return BIP_OK;
}

static int on_check_handle(void *ctx, const struct bip_kv *kv)
{
	struct checker *c = ctx;
	const char *id = kv->key + strlen(PFX_HANDLES);
	struct bip_handle_info h = {0};
	struct c_handle *ch;
	size_t hi;
	int rc;

	c->rep->handles++;
	if (!bip__valid_handle(id)) {
		rc = bip__ck_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, id, "invalid handle id");
		bip__ck_last(c, kv->rev, false);
		return rc;
	}
	rc = bip__handle_decode(c->ip, id, kv->value, kv->len, &h);
	if (rc == BIP_ENOMEM)
		return rc;
	if (rc != BIP_OK) {
		rc = bip__ck_problem(c, BIP_PROB_BLOCK_CORRUPT, kv->key, id,
				     "the handle record does not decode");
		bip__ck_last(c, kv->rev, false);
		return rc;
	}
	rc = intern_handle(c, id, &hi);
	if (rc != BIP_OK) {
		bip_handle_info_clear(&h);
		return rc;
	}
	ch = &c->handles[hi];
	ch->present = true;
	ch->rev = kv->rev;
	ch->addrs = bip__arena_alloc(c->ip, &c->arena, h.naddrs * sizeof(*h.addrs) + 1);
	if (ch->addrs && h.naddrs)
		memcpy(ch->addrs, h.addrs, h.naddrs * sizeof(*h.addrs));
	ch->naddrs = (uint32_t)h.naddrs;
	bip_handle_info_clear(&h);
	return ch->addrs ? BIP_OK : BIP_ENOMEM;
}

static int cmp_cblock(const void *x, const void *y)
{
	return bip_prefix_cmp(((const struct c_block *)x)->cidr, ((const struct c_block *)y)->cidr);
}

struct c_block *bip__ck_find_block(struct checker *c, struct bip_prefix p)
{
	size_t lo = 0, hi = c->nblocks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = bip_prefix_cmp(c->blocks[mid].cidr, p);

		if (k == 0)
			return &c->blocks[mid];
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The scan lists blocks, then handles, then affinities, each at its own time: a plugin of any
 * node that allocates or releases in between makes records that agree look as if they did not
 * (a new handle whose address the block list predates, a released one whose block entry it
 * still saw, a new block's affinity). Reporting those would be false, and repairing them would
 * damage live records. So whatever looks wrong is read again, with the records it depends on,
 * at ONE store revision (bip_store_read), and judged and repaired on that.
 */

/* Read keys[0..n) at one revision into got[0..n) (each 0 or 1 entry). */

static int check_overlaps(struct checker *c)
{
	char a[BIP_PREFIX_STRLEN], b[BIP_PREFIX_STRLEN], key[KEY_LEN];

	for (size_t i = 1; i < c->nblocks; i++) {
		struct bip_prefix p = c->blocks[i - 1].cidr, q = c->blocks[i].cidr;

		if (!bip_prefix_overlaps(p, q))
			continue;
		bip__key_block(key, q);
		if (bip__ck_problem(c, BIP_PROB_ADDR_TWICE, key, bip_prefix_fmt(q, b),
				    "blocks %s and %s overlap: their common addresses can be held "
				    "twice",
				    bip_prefix_fmt(p, a), b) != BIP_OK)
			return BIP_ENOMEM;
		bip__ck_last(c, c->blocks[i].rev, false);
	}
	return BIP_OK;
}

/* Empty blocks outside every pool go (with the affinity of the node they name), each
 * conditioned on the block being as read. Non-empty ones need their addresses released first. */
static int repair_no_pool(struct checker *c)
{
	for (size_t p = 0; p < c->rep->n; p++) {
		struct bip_problem *pr = &c->rep->v[p];
		struct bip_prefix cidr;
		struct c_block *b;
		char akey[KEY_LEN];
		struct bip_cmp cmp;
		struct bip_op ops[2];
		size_t nops = 0;
		int trc;

		if (pr->kind != BIP_PROB_BLOCK_NO_POOL || !pr->fixable ||
		    !bip__ck_may_repair(c, p, p + 1) ||
		    bip_prefix_parse_net(pr->subject, &cidr) != BIP_OK ||
		    !(b = bip__ck_find_block(c, cidr)) || !b->empty)
			continue;
		cmp = (struct bip_cmp){pr->key, b->rev};
		ops[nops++] = (struct bip_op){BIP_OP_DEL, pr->key};
		if (b->node) {
			bip__key_affinity(akey, b->node, b->cidr);
			ops[nops++] = (struct bip_op){BIP_OP_DEL, akey};
		}
		trc = bip_store_txn(c->ip->store, &cmp, 1, ops, nops, NULL);
		if (trc == BIP_OK)
			pr->repaired = true;
		else if (trc != BIP_ECONFLICT)
			return bip__store_fail(c->ip, trc, "cannot delete %s", pr->key);
	}
	return BIP_OK;
}

static int check_run(struct bip_ipam *ip, bool repair,
		     bool (*want)(void *ctx, const struct bip_problem *p), void *ctx,
		     struct bip_check_report *out)
{
	struct bip_check_report rep = {0};
	struct checker c = {.ip = ip, .rep = &rep, .repair = repair, .want = want, .want_ctx = ctx};
	int64_t rev;
	int rc;

	ip->errmsg[0] = '\0';
	/* A damaged file first: its records cannot be trusted, and its error says how to restore.
	 */
	rc = ip->store->ops->verify ? ip->store->ops->verify(ip->store) : BIP_OK;
	if (rc != BIP_OK)
		bip__store_fail(ip, rc, "the store failed its integrity check");
	if (rc == BIP_OK)
		rc = bip__load_pools(ip, &c.pools, &c.pool_revs, &c.npools);
	if (rc == BIP_OK)
		rc = bip__foreach_block(ip, on_check_block, &c);
	if (rc == BIP_OK) {
		rc = bip_store_list_cb(ip->store, PFX_HANDLES, 0, on_check_handle, &c, &rev);
		if (rc != BIP_OK && rc != BIP_ENOMEM)
			bip__store_fail(ip, rc, "cannot list handles");
	}
	if (rc == BIP_OK && c.nblocks)
		qsort(c.blocks, c.nblocks, sizeof(*c.blocks), cmp_cblock);
	if (rc == BIP_OK)
		rc = check_overlaps(&c);
	if (rc == BIP_OK)
		rc = bip__ck_handles(&c);
	if (rc == BIP_OK)
		rc = bip__ck_affinities(&c);
	if (rc == BIP_OK && repair)
		rc = repair_no_pool(&c);
	bip_pools_free(c.pools, c.npools);
	free(c.pool_revs);
	for (size_t i = 0; i < c.nblocks; i++)
		free(c.blocks[i].node);
	free(c.blocks);
	free(c.allocs);
	bip__arena_free(&c.arena);
	free(c.handles);
	bip__smap_free(&c.hmap);
	if (rc != BIP_OK) {
		bip_check_report_free(&rep);
		return rc;
	}
	*out = rep;
	return BIP_OK;
}

int bip_ipam_check(struct bip_ipam *ip, bool repair, struct bip_check_report *out)
{
	return check_run(ip, repair, NULL, NULL, out);
}

int bip_ipam_check_repair_if(struct bip_ipam *ip,
			     bool (*want)(void *ctx, const struct bip_problem *p), void *ctx,
			     struct bip_check_report *out)
{
	return check_run(ip, true, want, ctx, out);
}
