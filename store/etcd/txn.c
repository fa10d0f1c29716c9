/*
 * The etcd backend's one write: a txn whose compares are CREATE == 0 (absent) or MOD == rev and
 * whose success ops are the puts and deletes; no "succeeded" in the answer is BIP_ECONFLICT.
 * The request is checked whole before anything is sent, and sent at most once once it may have
 * reached etcd (call.c says why).
 */
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "codec.h"
#include "etcd_int.h"
#include "../store_int.h"
#include "http.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys valid, values not too large, no key written twice. */
static int check_txn(struct etcd *e, const struct bip_cmp *cmps, size_t ncmp,
		     const struct bip_op *ops, size_t nop)
{
	const char **keys;
	int rc = BIP_OK;

	for (size_t i = 0; i < ncmp; i++)
		if (!bip__etcd_key_ok(cmps[i].key) || cmps[i].rev < 0) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg), "txn: invalid compare %zu",
					  i);
			return BIP_EINVAL;
		}
	for (size_t i = 0; i < nop; i++)
		if (!bip__etcd_key_ok(ops[i].key) ||
		    (ops[i].kind != BIP_OP_PUT && ops[i].kind != BIP_OP_DEL) ||
		    (ops[i].kind == BIP_OP_PUT && ops[i].len > BIP_VALUE_MAX) ||
		    (ops[i].len && !ops[i].value && ops[i].kind == BIP_OP_PUT)) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "txn: invalid operation %zu", i);
			return BIP_EINVAL;
		}
	if (nop < 2)
		return BIP_OK;
	keys = malloc(nop * sizeof(*keys));
	if (!keys)
		return BIP_ENOMEM;
	for (size_t i = 0; i < nop; i++)
		keys[i] = ops[i].key;
	qsort(keys, nop, sizeof(*keys), cmp_str);
	for (size_t i = 1; i < nop && rc == BIP_OK; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg),
					  "txn: key '%s' written twice", keys[i]);
			rc = BIP_EINVAL;
		}
	free(keys);
	return rc;
}

int bip__etcd_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		  const struct bip_op *ops, size_t nop, int64_t *revp)
{
	struct etcd *e = bip__to_etcd(s);
	struct bip_http_res res;
	char *body = NULL;
	size_t blen;
	int64_t rev = 0;
	bool ok = false;
	int rc;

	e->errmsg[0] = '\0';
	rc = check_txn(e, cmps, ncmp, ops, nop);
	if (rc != BIP_OK)
		goto out;
	if (e->read_only) {
		bip__store_seterr(e->errmsg, sizeof(e->errmsg), "the store was opened read-only");
		rc = BIP_EPERM;
		goto out;
	}
	rc = BIP_ENOMEM;
	body = bip__etcd_encode_txn(e->prefix, cmps, ncmp, ops, nop, &blen);
	if (!body)
		goto out;
	rc = bip__etcd_call(e, "/v3/kv/txn", body, blen, false, &res);
	if (rc != BIP_OK)
		goto out;
	rc = bip__etcd_decode_txn(res.body, res.len, &rev, &ok);
	if (rc == BIP_ECORRUPT)
		bip__store_seterr(
		    e->errmsg, sizeof(e->errmsg),
		    "etcd: unexpected txn answer (the change may or may not have been applied)");
	if (rc != BIP_OK)
		goto out;
	rc = ok ? BIP_OK : BIP_ECONFLICT;
	if (ok && revp)
		*revp = rev;
out:
	free(body);
	return rc;
}
