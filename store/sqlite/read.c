/*
 * The reads of the embedded store: get, list and the batch read. Readers take no lock: in WAL
 * mode they read a snapshot and never block the writer, so a CLI scan of the whole store does
 * not stall pod starts. A list and a batch read run in one read transaction, so from one
 * snapshot, at one store revision.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "sqlite_int.h"

bool bip__sq_key_ok(const char *key)
{
	return key && *key && strnlen(key, BIP_KEY_MAX + 1) <= BIP_KEY_MAX;
}

int bip__sq_store_rev(struct sqlite_store *s, int64_t *rev)
{
	int rc;
	sqlite3_stmt *st = bip__sq_stmt(s, ST_REV, &rc);

	if (!st)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rev = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_CORRUPT; /* the meta row is written with the schema */
	}
	sqlite3_reset(st);
	return rc;
}

int bip__sq_get(struct bip_store *bs, const char *key, struct bip_kv *out)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	struct bip_kv kv = {0};
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc, ret = BIP_EINVAL;

	s->errmsg[0] = '\0';
	if (!bip__sq_key_ok(key) || !out)
		goto out;
	ret = BIP_ENOTFOUND;
	if (s->no_schema)
		goto out;
	st = bip__sq_stmt(s, ST_GET, &rc);
	if (!st) {
		ret = bip__sq_rc(s, rc);
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ret = rc == SQLITE_DONE ? BIP_ENOTFOUND : bip__sq_rc(s, rc);
		goto reset;
	}
	/* A blob read as text gets a NUL terminator and keeps every byte (UTF-8 database). */
	v = sqlite3_column_text(st, 0);
	kv.len = (size_t)sqlite3_column_bytes(st, 0);
	kv.rev = sqlite3_column_int64(st, 1);
	kv.key = strdup(key);
	kv.value = malloc(kv.len + 1);
	ret = BIP_ENOMEM;
	if (!kv.key || !kv.value || (!v && kv.len)) {
		bip_kv_clear(&kv);
		goto reset;
	}
	if (kv.len)
		memcpy(kv.value, v, kv.len);
	kv.value[kv.len] = '\0';
	*out = kv;
	ret = BIP_OK;
reset:
	sqlite3_reset(st);
out:
	return ret;
}

/*
 * The smallest string greater than every string starting with prefix: strip trailing 0xff
 * bytes and add one to the last byte left. False when there is none (prefix empty or all
 * 0xff): the range is then unbounded above.
 */
static bool prefix_end(const char *prefix, char *end, size_t *len)
{
	size_t n = strlen(prefix);

	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0)
		return false;
	memcpy(end, prefix, n);
	end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
	*len = n;
	return true;
}

/* The rows of prefix, inside the caller's read transaction. */
static int list_rows(struct sqlite_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		     void *ctx)
{
	bool keys_only = flags & BIP_LIST_KEYS_ONLY;
	char end[BIP_KEY_MAX + 1];
	size_t end_len = 0;
	bool bounded = prefix_end(prefix, end, &end_len);
	sqlite3_stmt *st;
	int rc, ret;

	if (bounded)
		st = bip__sq_stmt(s, keys_only ? ST_LIST_KEYS : ST_LIST, &rc);
	else
		st = bip__sq_stmt(s, keys_only ? ST_LIST_KEYS_ALL : ST_LIST_ALL, &rc);
	if (!st)
		return bip__sq_rc(s, rc);
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (bounded)
		sqlite3_bind_text(st, 2, end, (int)end_len, SQLITE_STATIC);
	s->in_list = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bip_kv kv = {.value = (unsigned char *)""};
		int cb;

		kv.key = (char *)sqlite3_column_text(st, 0);
		kv.rev = sqlite3_column_int64(st, 1);
		if (!keys_only) {
			const unsigned char *v = sqlite3_column_text(st, 2);

			kv.len = (size_t)sqlite3_column_bytes(st, 2);
			if (v)
				kv.value = (unsigned char *)v;
			else if (kv.len)
				rc = SQLITE_NOMEM;
		}
		if (!kv.key)
			rc = SQLITE_NOMEM;
		if (rc == SQLITE_NOMEM)
			break;
		cb = fn(ctx, &kv);
		if (cb != 0) {
			ret = cb;
			goto done;
		}
	}
	ret = rc == SQLITE_DONE ? BIP_OK : bip__sq_rc(s, rc);
done:
	s->in_list = false;
	sqlite3_reset(st);
	return ret;
}

int bip__sq_list(struct bip_store *bs, const char *prefix, unsigned flags, bip_list_fn fn,
		 void *ctx, int64_t *rev)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int64_t store;
	int rc, ret = BIP_EINVAL;

	s->errmsg[0] = '\0';
	if (!prefix)
		prefix = "";
	if (!fn || strnlen(prefix, BIP_KEY_MAX + 1) > BIP_KEY_MAX || s->in_list)
		return ret;
	if (s->no_schema) {
		if (rev)
			*rev = 1;
		return BIP_OK;
	}
	/* One read transaction: the revision and the rows come from the same snapshot. */
	rc = bip__sq_exec(s, ST_BEGIN_READ);
	if (rc == SQLITE_OK)
		rc = bip__sq_store_rev(s, &store);
	ret = bip__sq_rc(s, rc);
	if (ret == BIP_OK)
		ret = list_rows(s, prefix, flags, fn, ctx);
	if (ret == BIP_OK && rev)
		*rev = store;
	bip__sq_end_txn(s);
	return ret;
}

static int push_row(void *ctx, const struct bip_kv *kv)
{
	return bip_kvs_push(ctx, kv);
}

/*
 * The batch read in one read transaction: one snapshot, so no revision bracketing (the
 * generic fallback's), and one WAL read lock instead of one per statement.
 */
int bip__sq_read(struct bip_store *bs, const struct bip_read *reads, size_t n, struct bip_kvs *out,
		 int64_t *rev)
{
	struct sqlite_store *s = (struct sqlite_store *)bs;
	int64_t store = 1;
	size_t i = 0;
	int rc, ret = BIP_EINVAL;

	s->errmsg[0] = '\0';
	for (size_t j = 0; j < n; j++)
		if (strnlen(reads[j].key, BIP_KEY_MAX + 1) > BIP_KEY_MAX ||
		    (!reads[j].prefix && !bip__sq_key_ok(reads[j].key)))
			return ret;
	if (s->in_list)
		return ret;
	if (!s->no_schema) {
		rc = bip__sq_exec(s, ST_BEGIN_READ);
		if (rc == SQLITE_OK)
			rc = bip__sq_store_rev(s, &store);
		if ((ret = bip__sq_rc(s, rc)) != BIP_OK)
			goto out;
	}
	for (ret = BIP_OK; i < n && ret == BIP_OK; i++) {
		struct bip_kv kv = {0};

		out[i] = (struct bip_kvs){0};
		if (s->no_schema)
			continue;
		if (reads[i].prefix) {
			ret = list_rows(s, reads[i].key, reads[i].flags, push_row, &out[i]);
			continue;
		}
		ret = bip__sq_get(bs, reads[i].key, &kv);
		if (ret == BIP_ENOTFOUND) {
			ret = BIP_OK;
			continue;
		}
		if (ret == BIP_OK && (reads[i].flags & BIP_LIST_KEYS_ONLY)) {
			kv.value[0] = '\0';
			kv.len = 0;
		}
		if (ret == BIP_OK)
			ret = bip_kvs_push(&out[i], &kv);
		bip_kv_clear(&kv);
	}
out:
	bip__sq_end_txn(s);
	if (ret != BIP_OK) {
		while (i > 0)
			bip_kvs_free(&out[--i]);
		return ret;
	}
	for (i = 0; i < n; i++)
		out[i].rev = store;
	if (rev)
		*rev = store;
	return BIP_OK;
}
