/*
 * The block index: one small record per block, keyed by the block's first address in fixed-width
 * hex (blockidx/4/0a010040/026), so the store's key order is address order and the blocks that
 * start inside any aligned span are one prefix read. A claim asks "does anything overlap this
 * candidate?" with one such read and a few point reads, however many blocks the store holds
 * (read.c, bip__need_blocks_near), where it once listed every block key.
 *
 * The index is kept by the library's one way to commit (bip__store_txn): a transaction that
 * creates a block creates its entry, one that deletes a block deletes its entry, in the same
 * transaction. A store written before the index (format 1) gets it built on first use
 * (bip__blockidx_upgrade), each entry conditioned on its block as listed, the format record
 * last, so an interrupted upgrade is simply done again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define IDX_BATCH 60 /* entries per upgrade transaction: 2 per entry within etcd's 128 */

static const char hexd[] = "0123456789abcdef";

/* The first nib hex digits of a's bits, most significant first. */
static void addr_hex(struct bip_addr a, unsigned nib, char *out)
{
	unsigned bits = bip_addr_bits(a);

	for (unsigned i = 0; i < nib; i++)
		out[i] = hexd[(unsigned)(a.v >> (bits - 4 * (i + 1))) & 15u];
	out[nib] = '\0';
}

void bip__key_blockidx(char *buf, struct bip_prefix cidr)
{
	char hex[33];
	struct bip_addr first = bip_prefix_first(cidr);

	addr_hex(first, bip_addr_bits(first) / 4, hex);
	snprintf(buf, KEY_LEN, PFX_BLOCKIDX "%u/%s/%03u", (unsigned)first.family, hex, cidr.len);
}

void bip__blockidx_span(char *buf, struct bip_prefix p)
{
	char hex[33];

	addr_hex(p.addr, p.len / 4, hex);
	snprintf(buf, KEY_LEN, PFX_BLOCKIDX "%u/%s", (unsigned)p.addr.family, hex);
}

int bip__blockidx_parse(const char *key, struct bip_prefix *out)
{
	const char *s = key;
	unsigned fam, nib, len = 0;
	bip_u128 v = 0;

	if (strncmp(s, PFX_BLOCKIDX, strlen(PFX_BLOCKIDX)) != 0)
		return BIP_EINVAL;
	s += strlen(PFX_BLOCKIDX);
	if ((s[0] != '4' && s[0] != '6') || s[1] != '/')
		return BIP_EINVAL;
	fam = (unsigned)(s[0] - '0');
	nib = fam == 4 ? 8 : 32;
	s += 2;
	for (unsigned i = 0; i < nib; i++, s++) {
		const char *d = *s ? strchr(hexd, *s) : NULL;

		if (!d)
			return BIP_EINVAL;
		v = v << 4 | (bip_u128)(d - hexd);
	}
	if (s[0] != '/' || strlen(s + 1) != 3)
		return BIP_EINVAL;
	for (s++; *s; s++) {
		if (*s < '0' || *s > '9')
			return BIP_EINVAL;
		len = len * 10 + (unsigned)(*s - '0');
	}
	if (len > nib * 4)
		return BIP_EINVAL;
	out->addr = (struct bip_addr){v, (uint8_t)fam};
	out->len = len;
	if ((v & ~bip_mask((int)fam, len)) != 0)
		return BIP_EINVAL; /* host bits: not a block's start */
	return BIP_OK;
}

/* The entry's value: the block it stands for, readable ({"block":"10.1.0.64/26"}). */
static int idx_value(struct bip_prefix cidr, char *buf, size_t len)
{
	char cs[BIP_PREFIX_STRLEN];

	return snprintf(buf, len, "{\"block\":\"%s\"}", bip_prefix_fmt(cidr, cs));
}

#define IDX_VALUE_LEN (BIP_PREFIX_STRLEN + 16)

/* The index entries a set of operations needs: for block i, whether it is created or deleted. */
struct idx_ops {
	struct bip_op *ops;
	char (*keys)[KEY_LEN];
	char (*vals)[IDX_VALUE_LEN];
	size_t n;
};

static bool compared_existing(const struct bip_cmp *cmps, size_t ncmp, const char *key)
{
	for (size_t i = 0; i < ncmp; i++)
		if (cmps[i].rev > 0 && strcmp(cmps[i].key, key) == 0)
			return true;
	return false;
}

/* The transaction, and the format record it is the first to need: a store's first block is
 * committed with the record, conditioned on there being none yet. */
static int with_format(struct bip_ipam *ip, const struct bip_cmp *cmps, size_t ncmp,
		       const struct bip_op *ops, size_t nop, int64_t *rev)
{
	struct bip_cmp *c = bip__im_calloc(ip, ncmp + 1, sizeof(*c));
	struct bip_op *o = bip__im_calloc(ip, nop + 1, sizeof(*o));
	char val[32];
	int rc = BIP_ENOMEM;

	if (c && o) {
		memcpy(c, cmps, ncmp * sizeof(*c));
		memcpy(o, ops, nop * sizeof(*o));
		c[ncmp] = (struct bip_cmp){KEY_FORMAT, 0};
		o[nop] = (struct bip_op){BIP_OP_PUT, KEY_FORMAT, val, 0};
		o[nop].len = bip__format_encode(val, sizeof(val));
		rc = bip_store_txn(ip->store, c, ncmp + 1, o, nop + 1, rev);
		if (rc == BIP_OK)
			ip->format_absent = false;
	}
	free(c);
	free(o);
	return rc;
}

int bip__store_txn(struct bip_ipam *ip, const struct bip_cmp *cmps, size_t ncmp,
		   const struct bip_op *ops, size_t nop, int64_t *rev)
{
	size_t nblk = 0;
	struct idx_ops x = {0};
	int rc;

	for (size_t i = 0; i < nop; i++)
		nblk += strncmp(ops[i].key, PFX_BLOCKS, strlen(PFX_BLOCKS)) == 0;
	if (!nblk)
		return bip_store_txn(ip->store, cmps, ncmp, ops, nop, rev);
	x.ops = bip__im_calloc(ip, nop + nblk, sizeof(*x.ops));
	x.keys = bip__im_calloc(ip, nblk, sizeof(*x.keys));
	x.vals = bip__im_calloc(ip, nblk, sizeof(*x.vals));
	rc = BIP_ENOMEM;
	if (!x.ops || !x.keys || !x.vals)
		goto out;
	memcpy(x.ops, ops, nop * sizeof(*ops));
	for (size_t i = 0; i < nop; i++) {
		struct bip_prefix cidr;
		struct bip_op *o = &x.ops[nop + x.n];

		if (strncmp(ops[i].key, PFX_BLOCKS, strlen(PFX_BLOCKS)) != 0 ||
		    bip__cidr_from_keypart(ops[i].key + strlen(PFX_BLOCKS), &cidr) != BIP_OK)
			continue;
		/* An update of a block read at a revision keeps the entry it has. */
		if (ops[i].kind == BIP_OP_PUT && compared_existing(cmps, ncmp, ops[i].key))
			continue;
		bip__key_blockidx(x.keys[x.n], cidr);
		*o = (struct bip_op){ops[i].kind, x.keys[x.n], NULL, 0};
		if (ops[i].kind == BIP_OP_PUT) {
			o->len = (size_t)idx_value(cidr, x.vals[x.n], IDX_VALUE_LEN);
			o->value = x.vals[x.n];
		}
		x.n++;
	}
	if (x.n && ip->format_absent)
		rc = with_format(ip, cmps, ncmp, x.ops, nop + x.n, rev);
	else
		rc = bip_store_txn(ip->store, cmps, ncmp, x.ops, nop + x.n, rev);
out:
	free(x.ops);
	free(x.keys);
	free(x.vals);
	return rc;
}

/* --- the format record and the upgrade ----------------------------------------------------- */

size_t bip__format_encode(char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "{\"version\":%d}", BIP__FORMAT);
}

int bip__format_decode(const struct bip_kv *kv, unsigned *version)
{
	json_error_t e;
	json_t *j, *v;
	int rc = BIP_ECORRUPT;

	*version = 1; /* absent: a store from before the record */
	if (!kv)
		return BIP_OK;
	j = json_loadb((const char *)kv->value, kv->len, JSON_REJECT_DUPLICATES, &e);
	v = json_is_object(j) ? json_object_get(j, "version") : NULL;
	if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 1000000) {
		*version = (unsigned)json_integer_value(v);
		rc = BIP_OK;
	}
	json_decref(j);
	return rc;
}

/* Key lists of one prefix, sorted as the store returns them. */
static int list_keys(struct bip_ipam *ip, const char *pfx, struct bip_kvs *out)
{
	int rc = bip_store_list(ip->store, pfx, BIP_LIST_KEYS_ONLY, out);

	if (rc != BIP_OK)
		return bip__store_fail(ip, rc, "cannot list %s to build the block index", pfx);
	return BIP_OK;
}

static bool has_key(const struct bip_kvs *kvs, const char *key)
{
	size_t lo = 0, hi = kvs->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(kvs->v[mid].key, key);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

struct upgrade_batch {
	struct bip_cmp cmps[2 * IDX_BATCH];
	struct bip_op ops[IDX_BATCH];
	char keys[2 * IDX_BATCH][KEY_LEN];
	char vals[IDX_BATCH][IDX_VALUE_LEN];
	size_t ncmp, nop;
};

static int flush(struct bip_ipam *ip, struct upgrade_batch *b)
{
	int rc = BIP_OK;

	if (b->nop)
		rc = bip_store_txn(ip->store, b->cmps, b->ncmp, b->ops, b->nop, NULL);
	b->ncmp = b->nop = 0;
	return rc;
}

/* Entries for blocks that have none, each conditioned on its block as listed. */
static int add_missing(struct bip_ipam *ip, const struct bip_kvs *blocks, const struct bip_kvs *idx,
		       struct upgrade_batch *b)
{
	int rc = BIP_OK;

	for (size_t i = 0; i < blocks->n && rc == BIP_OK; i++) {
		struct bip_prefix cidr;
		char *k = b->keys[b->ncmp + b->nop];

		if (bip__cidr_from_keypart(blocks->v[i].key + strlen(PFX_BLOCKS), &cidr) != BIP_OK)
			continue; /* a bad key: the check reports it */
		bip__key_blockidx(k, cidr);
		if (has_key(idx, k))
			continue;
		b->cmps[b->ncmp++] = (struct bip_cmp){blocks->v[i].key, blocks->v[i].rev};
		b->ops[b->nop] = (struct bip_op){BIP_OP_PUT, k, b->vals[b->nop], 0};
		b->ops[b->nop].len = (size_t)idx_value(cidr, b->vals[b->nop], IDX_VALUE_LEN);
		if (++b->nop == IDX_BATCH)
			rc = flush(ip, b);
	}
	return rc == BIP_OK ? flush(ip, b) : rc;
}

/* Entries whose block is gone, deleted if still so. */
static int drop_stale(struct bip_ipam *ip, const struct bip_kvs *blocks, const struct bip_kvs *idx,
		      struct upgrade_batch *b)
{
	int rc = BIP_OK;

	for (size_t i = 0; i < idx->n && rc == BIP_OK; i++) {
		struct bip_prefix cidr;
		char *k = b->keys[b->ncmp];

		if (bip__blockidx_parse(idx->v[i].key, &cidr) != BIP_OK)
			continue;
		bip__key_block(k, cidr);
		if (has_key(blocks, k))
			continue;
		b->cmps[b->ncmp++] = (struct bip_cmp){k, 0};
		b->cmps[b->ncmp++] = (struct bip_cmp){idx->v[i].key, idx->v[i].rev};
		b->ops[b->nop++] = (struct bip_op){BIP_OP_DEL, idx->v[i].key, NULL, 0};
		if (b->nop == IDX_BATCH)
			rc = flush(ip, b);
	}
	return rc == BIP_OK ? flush(ip, b) : rc;
}

int bip__blockidx_upgrade(struct bip_ipam *ip, int64_t format_rev)
{
	struct bip_kvs blocks = {0}, idx = {0};
	struct upgrade_batch *b = bip__im_calloc(ip, 1, sizeof(*b));
	char val[32];
	struct bip_cmp cmp = {KEY_FORMAT, format_rev};
	struct bip_op op = {BIP_OP_PUT, KEY_FORMAT, val, 0};
	int rc = b ? list_keys(ip, PFX_BLOCKS, &blocks) : BIP_ENOMEM;

	if (rc == BIP_OK)
		rc = list_keys(ip, PFX_BLOCKIDX, &idx);
	if (rc == BIP_OK)
		rc = add_missing(ip, &blocks, &idx, b);
	if (rc == BIP_OK)
		rc = drop_stale(ip, &blocks, &idx, b);
	/* A store without blocks has nothing to index: it is left as it is (the record is written
	 * by the upgrade that finds blocks), so a call that fails changes nothing. */
	ip->format_absent = rc == BIP_OK && !blocks.n && !idx.n;
	if (rc == BIP_OK && !ip->format_absent) {
		op.len = bip__format_encode(val, sizeof(val));
		rc = bip_store_txn(ip->store, &cmp, 1, &op, 1, NULL);
	}
	if (rc != BIP_OK && rc != BIP_ECONFLICT && rc != BIP_ENOMEM && !ip->errmsg[0])
		bip__store_fail(ip, rc, "cannot build the block index (store format 1 to %d)",
				BIP__FORMAT);
	bip_kvs_free(&blocks);
	bip_kvs_free(&idx);
	free(b);
	return rc;
}

int bip__blockidx_fix(struct bip_ipam *ip, struct bip_prefix cidr, int64_t block_rev,
		      int64_t idx_rev)
{
	char bkey[KEY_LEN], ikey[KEY_LEN], val[IDX_VALUE_LEN];
	struct bip_cmp cmps[2] = {{bkey, block_rev}, {ikey, idx_rev}};
	struct bip_op op = {block_rev > 0 ? BIP_OP_PUT : BIP_OP_DEL, ikey, NULL, 0};

	bip__key_block(bkey, cidr);
	bip__key_blockidx(ikey, cidr);
	if (block_rev > 0) {
		op.len = (size_t)idx_value(cidr, val, sizeof(val));
		op.value = val;
	}
	return bip_store_txn(ip->store, cmps, 2, &op, 1, NULL);
}
