/*
 * The check of handles against blocks: each handle's record must list exactly the addresses
 * its blocks give it. What disagrees is read again with its blocks at one revision and judged
 * on that; a repair rewrites (or rebuilds, or deletes) the handle record, conditioned on the
 * handle and every block it involves being as read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "internal.h"

int bip__ck_reread(struct checker *c, char (*keys)[KEY_LEN], size_t n, struct bip_kvs *got)
{
	struct bip_read reads[BIP_READ_MAX];
	int rc;

	for (size_t i = 0; i < n; i++)
		reads[i] = (struct bip_read){keys[i], false, 0};
	rc = bip_store_read(c->ip->store, reads, n, got, NULL);
	return rc == BIP_OK ? BIP_OK : bip__store_fail(c->ip, rc, "cannot read %s again", keys[0]);
}

/* h as the handle record got (0 or 1 entry) says: present, rev and its addresses. */
static int take_record(struct checker *c, struct c_handle *h, const struct bip_kvs *got)
{
	struct bip_handle_info info = {0};
	int rc;

	h->present = got->n > 0;
	h->naddrs = 0;
	if (!h->present)
		return BIP_OK;
	rc = bip__handle_decode(c->ip, h->id, got->v[0].value, got->v[0].len, &info);
	if (rc == BIP_OK) {
		h->rev = got->v[0].rev;
		h->addrs =
		    bip__arena_alloc(c->ip, &c->arena, info.naddrs * sizeof(*info.addrs) + 1);
		if (h->addrs && info.naddrs)
			memcpy(h->addrs, info.addrs, info.naddrs * sizeof(*info.addrs));
		h->naddrs = (uint32_t)info.naddrs;
		rc = h->addrs ? BIP_OK : BIP_ENOMEM;
	}
	bip_handle_info_clear(&info);
	return rc;
}

/* The keys a re-read read and the revision each had (0: absent): what a repair judged on that
 * read is committed under. keys and cmps hold BIP_READ_MAX each (the caller's). */
struct as_read {
	char (*keys)[KEY_LEN];
	struct bip_cmp *cmps;
	size_t n;
};

/*
 * Read handle h and the blocks of its addresses (those the scan saw it hold, `given`, and those
 * it lists) at one revision. On success h describes the record as read then (present, rev,
 * addresses), *fresh (malloc'd; NULL when empty) the addresses those blocks give it, and seen
 * (may be NULL) the records read with their revisions.
 */
static int reread_handle(struct checker *c, struct c_handle *h, const struct bip_prefix *given,
			 size_t ngiven, struct bip_prefix **fresh, size_t *nfresh, bool *done,
			 struct as_read *seen)
{
	struct bip_prefix cidrs[BIP_READ_MAX], *out = NULL;
	struct bip_kvs got[BIP_READ_MAX];
	char(*keys)[KEY_LEN] = NULL;
	size_t n = 0, nout = 0, nread = 0;
	int rc = BIP_OK;

	*fresh = NULL;
	*nfresh = 0;
	*done = false;
	for (size_t i = 0; i < ngiven + h->naddrs; i++) {
		struct bip_prefix p = i < ngiven ? given[i] : h->addrs[i - ngiven];
		bool dup = false;

		p.addr = bip_prefix_first(p);
		for (size_t j = 0; j < n && !dup; j++)
			dup = bip_prefix_eq(cidrs[j], p);
		if (dup)
			continue;
		if (n + 1 == BIP_READ_MAX) /* more blocks than one read takes: judge on the scan */
			return BIP_OK;
		cidrs[n++] = p;
	}
	rc = BIP_ENOMEM;
	keys = seen ? seen->keys : bip__im_calloc(c->ip, n + 1, sizeof(*keys));
	out = bip__im_calloc(c->ip, HANDLE_MAX_ADDRS + ngiven + 1, sizeof(*out));
	if (!keys || !out)
		goto out;
	bip__key_handle(keys[0], h->id);
	for (size_t j = 0; j < n; j++)
		bip__key_block(keys[j + 1], cidrs[j]);
	rc = bip__ck_reread(c, keys, n + 1, got);
	if (rc != BIP_OK)
		goto out;
	nread = n + 1;
	rc = take_record(c, h, &got[0]);
	if (rc != BIP_OK)
		goto out;
	for (size_t j = 1; j < nread; j++) {
		struct blk *b = NULL;

		if (!got[j].n)
			continue;
		rc = bip__blk_decode(c->ip, got[j].v[0].key, got[j].v[0].value, got[j].v[0].len,
				     got[j].v[0].rev, &b);
		if (rc == BIP_ENOMEM)
			goto out;
		if (rc != BIP_OK)
			continue; /* a block that does not decode is reported on its own */
		for (uint32_t o = 0; o < b->size && nout < HANDLE_MAX_ADDRS + ngiven; o++)
			if (b->handle[o] && strcmp(b->handle[o], h->id) == 0)
				out[nout++] =
				    (struct bip_prefix){bip_prefix_nth(b->cidr, o), b->cidr.len};
		bip__blk_free(b);
	}
	for (size_t j = 0; seen && j < nread; j++)
		seen->cmps[j] = (struct bip_cmp){keys[j], got[j].n ? got[j].v[0].rev : 0};
	if (seen)
		seen->n = nread;
	*fresh = out;
	*nfresh = nout;
	*done = true;
	out = NULL;
	rc = BIP_OK;
out:
	for (size_t j = 0; j < nread; j++)
		bip_kvs_free(&got[j]);
	if (!seen)
		free(keys);
	free(out);
	return rc;
}

/* Whether a handle's addresses are exactly those its blocks give it. */
static bool handle_agrees(const struct c_handle *h, const struct bip_prefix *given, size_t ngiven)
{
	for (size_t i = 0; i < ngiven; i++) {
		bool listed = false;

		for (size_t j = 0; j < h->naddrs && !listed; j++)
			listed = bip_addr_eq(h->addrs[j].addr, given[i].addr);
		if (!listed)
			return false;
	}
	for (size_t j = 0; j < h->naddrs; j++) {
		bool held = false;

		for (size_t i = 0; i < ngiven && !held; i++)
			held = bip_addr_eq(h->addrs[j].addr, given[i].addr);
		if (!held)
			return false;
	}
	return true;
}

/*
 * The compares a handle repair commits under: the handle and the blocks of `want` (and of the
 * addresses the record lists), read again at one revision, must still be as judged (the handle
 * at its revision, those blocks giving it exactly `want`), and each of those records is then
 * compared at the revision of THAT read. A repair judged on one view and written after another
 * client changed a block would otherwise rebuild a record for an address released meanwhile (a
 * dangling handle that a later ADD of the same attachment would take up again); and revisions
 * taken from a second, later read would let a release that lands between the two through.
 * BIP_ECONFLICT: changed since judged (leave it). keys and cmps must hold BIP_READ_MAX each.
 */
static int repair_cmps(struct checker *c, struct c_handle *h, const struct bip_prefix *want,
		       size_t nwant, char (*keys)[KEY_LEN], struct bip_cmp *cmps, size_t *ncmps)
{
	struct c_handle now = *h;
	struct as_read seen = {keys, cmps, 0};
	struct bip_prefix *fresh = NULL;
	size_t nfresh = 0;
	bool done = false;
	int rc;

	rc = reread_handle(c, &now, want, nwant, &fresh, &nfresh, &done, &seen);
	if (rc != BIP_OK)
		return rc;
	rc = BIP_ECONFLICT;
	if (!done || now.present != h->present || (h->present && now.rev != h->rev) ||
	    nfresh != nwant)
		goto out;
	for (size_t i = 0; i < nwant; i++) {
		bool found = false;

		for (size_t j = 0; j < nfresh && !found; j++)
			found = bip_addr_eq(fresh[j].addr, want[i].addr);
		if (!found)
			goto out;
	}
	*ncmps = seen.n;
	rc = BIP_OK;
out:
	free(fresh);
	return rc;
}

/* Rebuild or trim a handle record so it lists exactly `want` (delete when empty). */
static int repair_handle(struct checker *c, struct c_handle *h, const struct bip_prefix *want,
			 size_t nwant)
{
	struct bip_handle_info info = {0};
	struct bip_kv kv = {0};
	char key[KEY_LEN];
	struct bip_cmp *cmps = NULL;
	char(*keys)[KEY_LEN] = NULL;
	struct bip_op op;
	char *v = NULL;
	size_t len = 0, ncmps = 0;
	int rc;

	bip__key_handle(key, h->id);
	if (h->present) {
		rc = bip_store_get(c->ip->store, key, &kv);
		if (rc == BIP_ENOTFOUND || (rc == BIP_OK && kv.rev != h->rev))
			rc = BIP_ECONFLICT; /* changed since it was judged: leave it */
		else if (rc != BIP_OK && rc != BIP_ENOMEM)
			bip__store_fail(c->ip, rc, "cannot read %s", key);
		if (rc == BIP_OK)
			rc = bip__handle_decode(c->ip, h->id, kv.value, kv.len, &info);
		if (rc != BIP_OK)
			goto out;
		free(info.addrs);
	} else {
		/* The node that holds the addresses owns the rebuilt record, and a CNI handle id
		 * that splits only one way ("<network>.<container>.<ifname>", two dots) gives its
		 * container and interface: without them no gc would ever take the record (a gc
		 * releases only the handles of the node it runs for; CNI GC only the attachments
		 * the plugin recorded). An id with more dots splits several ways: only
		 * `blockipamctl gc --live` (which tries every split) can take it then. */
		const char *d1 = strchr(h->id, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
		bool split = d2 && d1 > h->id && d2 > d1 + 1 && d2[1] && !strchr(d2 + 1, '.');

		rc = BIP_ENOMEM;
		info.time = bip__now();
		info.id = bip__im_strdup(c->ip, h->id);
		info.node = h->node ? bip__im_strdup(c->ip, h->node) : NULL;
		if (!info.id || (h->node && !info.node))
			goto out;
		if (split) {
			size_t cn = (size_t)(d2 - d1 - 1);

			info.container = bip__im_malloc(c->ip, cn + 1);
			info.ifname = bip__im_strdup(c->ip, d2 + 1);
			if (!info.container || !info.ifname)
				goto out;
			memcpy(info.container, d1 + 1, cn);
			info.container[cn] = '\0';
		}
	}
	info.addrs = (struct bip_prefix *)want;
	info.naddrs = nwant;
	if (nwant) {
		v = bip__handle_encode(c->ip, &info, &len);
		rc = BIP_ENOMEM;
		if (!v)
			goto out;
		op = (struct bip_op){BIP_OP_PUT, key, v, len};
	} else {
		op = (struct bip_op){BIP_OP_DEL, key};
	}
	rc = BIP_ENOMEM;
	keys = bip__im_calloc(c->ip, BIP_READ_MAX, sizeof(*keys));
	cmps = bip__im_calloc(c->ip, BIP_READ_MAX, sizeof(*cmps));
	if (!keys || !cmps)
		goto out;
	rc = repair_cmps(c, h, want, nwant, keys, cmps, &ncmps);
	if (rc == BIP_OK)
		rc = bip_store_txn(c->ip->store, cmps, ncmps, &op, 1, NULL);
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM && !c->ip->errmsg[0])
		bip__store_fail(c->ip, rc, "cannot %s %s", nwant ? "write" : "delete", key);
out:
	info.addrs = NULL;
	bip_handle_info_clear(&info);
	bip_kv_clear(&kv);
	free(keys);
	free(cmps);
	free(v);
	return rc;
}

/* Report the addresses where h's record and what its blocks give it (given) disagree; *bad when
 * any do. */
static int report_handle(struct checker *c, const struct c_handle *h,
			 const struct bip_prefix *given, size_t ngiven, bool *bad)
{
	char as[BIP_ADDR_STRLEN], key[KEY_LEN];
	int rc;

	bip__key_handle(key, h->id);
	/* Addresses given by blocks but not listed by the handle. */
	for (size_t i = 0; i < ngiven; i++) {
		bool listed = false;

		for (size_t j = 0; j < h->naddrs && !listed; j++)
			listed = bip_addr_eq(h->addrs[j].addr, given[i].addr);
		if (listed)
			continue;
		*bad = true;
		rc = bip__ck_problem(c, BIP_PROB_ADDR_NO_HANDLE, key,
				     bip_addr_fmt(given[i].addr, as),
				     h->present ? "address %s is held by '%s' in its block, "
						  "but the handle record does not list it"
						: "address %s is held by '%s', which has no "
						  "handle record",
				     as, h->id);
		if (rc != BIP_OK)
			return rc;
		bip__ck_last(c, h->present ? h->rev : 0, true);
	}
	/* Addresses the handle lists that its blocks do not give it. */
	for (size_t j = 0; j < h->naddrs; j++) {
		bool is_given = false;

		for (size_t i = 0; i < ngiven && !is_given; i++)
			is_given = bip_addr_eq(h->addrs[j].addr, given[i].addr);
		if (is_given)
			continue;
		*bad = true;
		rc = bip__ck_problem(c, BIP_PROB_HANDLE_DANGLING, key,
				     bip_addr_fmt(h->addrs[j].addr, as),
				     "handle '%s' lists %s, but its block does not give it to "
				     "the handle",
				     h->id, as);
		if (rc != BIP_OK)
			return rc;
		bip__ck_last(c, h->rev, true);
	}
	return BIP_OK;
}

/* Judge handle h against the addresses the scan saw its blocks give it, read again when they
 * disagree, and repair it when asked. */
static int check_handle(struct checker *c, struct c_handle *h, const struct bip_prefix *given,
			size_t ngiven)
{
	struct bip_prefix *fresh = NULL;
	size_t nfresh = 0, first = c->rep->n;
	bool bad = false;
	int rc;

	if (!handle_agrees(h, given, ngiven)) {
		bool done;

		rc = reread_handle(c, h, given, ngiven, &fresh, &nfresh, &done, NULL);
		if (rc != BIP_OK)
			return rc;
		if (done) { /* else too many blocks to read at once: the scan's view */
			given = fresh;
			ngiven = nfresh;
		}
	}
	rc = report_handle(c, h, given, ngiven, &bad);
	if (rc == BIP_OK && bad && bip__ck_may_repair(c, first, c->rep->n)) {
		rc = repair_handle(c, h, given, ngiven);
		for (size_t p = first; rc == BIP_OK && p < c->rep->n; p++)
			c->rep->v[p].repaired = true;
		if (rc == BIP_ECONFLICT)
			rc = BIP_OK;
	}
	free(fresh);
	return rc;
}

int bip__ck_handles(struct checker *c)
{
	size_t *count = bip__im_calloc(c->ip, c->nhandles + 1, sizeof(size_t));
	size_t *start = bip__im_calloc(c->ip, c->nhandles + 1, sizeof(size_t));
	struct bip_prefix *flat = bip__im_calloc(c->ip, c->nallocs + 1, sizeof(*flat));
	int rc = BIP_ENOMEM;

	if (!count || !start || !flat)
		goto out;
	/* What the blocks give each handle, grouped by handle in one array: handle h's are
	 * flat[start[h] .. start[h] + count[h]). */
	for (size_t i = 0; i < c->nallocs; i++)
		count[c->allocs[i].handle]++;
	for (size_t h = 0, at = 0; h < c->nhandles; h++) {
		start[h] = at;
		at += count[h];
		count[h] = 0;
	}
	for (size_t i = 0; i < c->nallocs; i++) {
		const struct c_alloc *a = &c->allocs[i];

		flat[start[a->handle] + count[a->handle]++] =
		    (struct bip_prefix){{a->v, a->family}, a->blen};
	}
	rc = BIP_OK;
	for (size_t h = 0; h < c->nhandles && rc == BIP_OK; h++)
		rc = check_handle(c, &c->handles[h], flat + start[h], count[h]);
out:
	free(flat);
	free(start);
	free(count);
	return rc;
}
