/*
 * etcd v3 gateway messages (codec.h). Requests are built as jansson objects and dumped; the
 * JSON itself is never written by hand. Responses are loaded with jansson and read field by
 * field: a field of the wrong type is a corrupt response, an absent one its zero value.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "codec.h"

/* --- base64 --------------------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t bip__b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void bip__b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int bip__b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
	size_t o = 0;

	if (n % 4)
		return BIP_ECORRUPT;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_val(in[i + k]);
			if (v[k] < 0) {
				/* '=' only as the last one or two characters of the input */
				if (in[i + k] != '=' || i + 4 != n || k < 2)
					return BIP_ECORRUPT;
				v[k] = 0;
				pad++;
			} else if (pad) {
				return BIP_ECORRUPT;
			}
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return BIP_ECORRUPT; /* non-zero unused bits: not canonical */
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	*outlen = o;
	return BIP_OK;
}

/* --- decoding ------------------------------------------------------------------------- */

/* An int64 field: absent = 0; a decimal string (as etcd sends) or a JSON integer, >= 0. */
static int get_int(const json_t *obj, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(obj, name);
	const char *s;
	int64_t n = 0;

	*out = 0;
	if (!v)
		return BIP_OK;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return BIP_ECORRUPT;
		*out = json_integer_value(v);
		return BIP_OK;
	}
	if (!json_is_string(v))
		return BIP_ECORRUPT;
	s = json_string_value(v);
	if (!*s || (s[0] == '0' && s[1]) || json_string_length(v) > 19)
		return BIP_ECORRUPT;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (INT64_MAX - (*s - '0')) / 10)
			return BIP_ECORRUPT;
		n = n * 10 + (*s - '0');
	}
	*out = n;
	return BIP_OK;
}

static int get_bool(const json_t *obj, const char *name, bool *out)
{
	const json_t *v = json_object_get(obj, name);

	*out = false;
	if (!v)
		return BIP_OK;
	if (!json_is_boolean(v))
		return BIP_ECORRUPT;
	*out = json_is_true(v);
	return BIP_OK;
}

/* A base64 field into a new NUL-terminated buffer (absent = empty). */
static int get_bytes(const json_t *obj, const char *name, unsigned char **out, size_t *len)
{
	const json_t *v = json_object_get(obj, name);
	const char *s = "";
	size_t n = 0;
	unsigned char *b;
	int rc;

	*out = NULL;
	if (v) {
		if (!json_is_string(v))
			return BIP_ECORRUPT;
		s = json_string_value(v);
		n = json_string_length(v);
	}
	b = malloc(n / 4 * 3 + 1);
	if (!b)
		return BIP_ENOMEM;
	rc = bip__b64_decode(s, n, b, len);
	if (rc != BIP_OK) {
		free(b);
		return rc;
	}
	b[*len] = '\0';
	*out = b;
	return BIP_OK;
}

static int load(const char *body, size_t len, json_t **out)
{
	json_error_t e;

	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!*out)
		return json_error_code(&e) == json_error_out_of_memory ? BIP_ENOMEM : BIP_ECORRUPT;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return BIP_ECORRUPT;
	}
	return BIP_OK;
}

static int header_rev(const json_t *root, int64_t *rev)
{
	const json_t *h = json_object_get(root, "header");

	if (!json_is_object(h))
		return BIP_ECORRUPT;
	if (get_int(h, "revision", rev) != BIP_OK || *rev <= 0)
		return BIP_ECORRUPT;
	return BIP_OK;
}

static int decode_kv(const json_t *o, bip_etcd_kv_fn fn, void *ctx)
{
	struct bip_etcd_kv kv = {0};
	unsigned char *key = NULL, *value = NULL;
	int rc = BIP_ECORRUPT;

	if (!json_is_object(o))
		goto out;
	rc = get_bytes(o, "key", &key, &kv.klen);
	if (rc != BIP_OK)
		goto out;
	rc = get_bytes(o, "value", &value, &kv.vlen);
	if (rc != BIP_OK)
		goto out;
	rc = get_int(o, "mod_revision", &kv.mod_rev);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ECORRUPT;
	if (kv.klen == 0 || kv.mod_rev <= 0)
		goto out;
	kv.key = key;
	kv.value = value;
	rc = fn(ctx, &kv);
out:
	free(key);
	free(value);
	return rc;
}

/* The entries and "more" of a range answer (the top level, or a txn's response_range). */
static int decode_kvs(const json_t *o, bip_etcd_kv_fn fn, void *ctx, struct bip_etcd_range *r)
{
	const json_t *kvs = json_object_get(o, "kvs");
	int rc = get_bool(o, "more", &r->more);

	if (rc != BIP_OK)
		return rc;
	if (kvs && !json_is_array(kvs))
		return BIP_ECORRUPT;
	r->n = 0;
	for (size_t i = 0; kvs && i < json_array_size(kvs) && rc == BIP_OK; i++) {
		rc = decode_kv(json_array_get(kvs, i), fn, ctx);
		r->n++;
	}
	return rc;
}

int bip__etcd_decode_range(const char *body, size_t len, bip_etcd_kv_fn fn, void *ctx,
			   struct bip_etcd_range *out)
{
	struct bip_etcd_range r = {0};
	json_t *root = NULL;
	int rc = load(body, len, &root);

	if (rc != BIP_OK)
		return rc;
	rc = header_rev(root, &r.rev);
	if (rc == BIP_OK)
		rc = decode_kvs(root, fn, ctx, &r);
	if (rc == BIP_OK)
		*out = r;
	json_decref(root);
	return rc;
}

struct read_fn {
	bip_etcd_read_fn fn;
	void *ctx;
	size_t i;
};

static int read_one(void *p, const struct bip_etcd_kv *kv)
{
	struct read_fn *r = p;

	return r->fn(r->ctx, r->i, kv);
}

int bip__etcd_decode_reads(const char *body, size_t len, size_t n, bip_etcd_read_fn fn, void *ctx,
			   struct bip_etcd_range *out)
{
	struct read_fn rf = {fn, ctx, 0};
	const json_t *resps;
	json_t *root = NULL;
	int64_t rev = 0;
	bool ok = false;
	int rc = load(body, len, &root);

	if (rc != BIP_OK)
		return rc;
	rc = header_rev(root, &rev);
	if (rc == BIP_OK)
		rc = get_bool(root, "succeeded", &ok);
	if (rc != BIP_OK)
		goto out;
	/* No compares: the success branch always runs, one response per range, in order. */
	rc = BIP_ECORRUPT;
	resps = json_object_get(root, "responses");
	if (!ok || !json_is_array(resps) || json_array_size(resps) != n)
		goto out;
	rc = BIP_OK;
	for (; rf.i < n && rc == BIP_OK; rf.i++) {
		const json_t *o = json_array_get(resps, rf.i);
		const json_t *rr = json_is_object(o) ? json_object_get(o, "response_range") : NULL;

		if (!json_is_object(rr)) {
			rc = BIP_ECORRUPT;
			break;
		}
		out[rf.i] = (struct bip_etcd_range){.rev = rev};
		rc = decode_kvs(rr, read_one, &rf, &out[rf.i]);
	}
out:
	json_decref(root);
	return rc;
}

int bip__etcd_decode_txn(const char *body, size_t len, int64_t *rev, bool *succeeded)
{
	json_t *root = NULL;
	int64_t r = 0;
	bool ok = false;
	int rc = load(body, len, &root);

	if (rc != BIP_OK)
		return rc;
	rc = header_rev(root, &r);
	if (rc == BIP_OK)
		rc = get_bool(root, "succeeded", &ok);
	if (rc == BIP_OK) {
		*rev = r;
		*succeeded = ok;
	}
	json_decref(root);
	return rc;
}

void bip__etcd_decode_error(const char *body, size_t len, int *code, char *msg, size_t msglen)
{
	json_t *root = NULL;
	const json_t *c, *m;

	*code = -1;
	if (msglen)
		msg[0] = '\0';
	if (load(body, len, &root) != BIP_OK)
		return;
	c = json_object_get(root, "code");
	m = json_object_get(root, "message");
	if (!json_is_string(m))
		m = json_object_get(root, "error");
	if (json_is_integer(c) && json_integer_value(c) >= 0 && json_integer_value(c) < 100)
		*code = (int)json_integer_value(c);
	if (json_is_string(m) && msglen) {
		snprintf(msg, msglen, "%s", json_string_value(m));
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	json_decref(root);
}

/* --- encoding ------------------------------------------------------------------------- */

/* A base64 JSON string of the bytes a[0..alen) followed by b[0..blen). */
static json_t *b64_string(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen + blen;
	unsigned char *raw = malloc(n ? n : 1);
	char *enc = raw ? malloc(bip__b64_len(n) + 1) : NULL;
	json_t *s = NULL;

	if (enc) {
		if (alen)
			memcpy(raw, a, alen);
		if (blen)
			memcpy(raw + alen, b, blen);
		bip__b64_encode(raw, n, enc);
		s = json_stringn_nocheck(enc, bip__b64_len(n));
	}
	free(raw);
	free(enc);
	return s;
}

static json_t *int_string(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static char *dump(json_t *root, size_t *len)
{
	char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (s)
		*len = strlen(s);
	return s;
}

/* Set obj[name] = v, taking v; false when v is NULL or out of memory. */
static bool set(json_t *obj, const char *name, json_t *v)
{
	return v && json_object_set_new_nocheck(obj, name, v) == 0;
}

static json_t *range_obj(const struct bip_etcd_rangereq *r)
{
	json_t *o = json_object();
	bool ok = o && set(o, "key", b64_string(r->key, r->klen, NULL, 0));

	if (ok && r->end)
		ok = set(o, "range_end", b64_string(r->end, r->elen, NULL, 0));
	if (ok && r->limit)
		ok = set(o, "limit", int_string(r->limit));
	if (ok && r->revision)
		ok = set(o, "revision", int_string(r->revision));
	if (ok && r->keys_only)
		ok = set(o, "keys_only", json_true());
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *bip__etcd_encode_range(const unsigned char *key, size_t klen, const unsigned char *end,
			     size_t elen, int64_t limit, int64_t revision, bool keys_only,
			     size_t *len)
{
	struct bip_etcd_rangereq r = {key, klen, end, elen, limit, revision, keys_only};

	return dump(range_obj(&r), len);
}

char *bip__etcd_encode_reads(const struct bip_etcd_rangereq *r, size_t n, size_t *len)
{
	json_t *root = json_object(), *s = json_array();
	bool ok = root && s;

	for (size_t i = 0; ok && i < n; i++) {
		json_t *op = json_object();

		/* set() and json_array_append_new() take their value, failing or not */
		ok = op && set(op, "request_range", range_obj(&r[i]));
		if (!ok)
			json_decref(op);
		else
			ok = json_array_append_new(s, op) == 0;
	}
	ok = ok && set(root, "success", json_incref(s));
	json_decref(s);
	if (!ok) {
		json_decref(root);
		return NULL;
	}
	return dump(root, len);
}

static json_t *compare(const char *prefix, const struct bip_cmp *c)
{
	json_t *o = json_object();
	size_t plen = strlen(prefix);
	bool ok = o && set(o, "key", b64_string(prefix, plen, c->key, strlen(c->key))) &&
		  set(o, "result", json_string("EQUAL"));

	/* Absent: created at revision 0. Else: last modified at exactly rev. */
	if (ok && c->rev == 0)
		ok = set(o, "target", json_string("CREATE")) &&
		     set(o, "create_revision", json_string("0"));
	else if (ok)
		ok = set(o, "target", json_string("MOD")) &&
		     set(o, "mod_revision", int_string(c->rev));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *request_op(const char *prefix, const struct bip_op *op)
{
	json_t *req = json_object(), *o;
	size_t plen = strlen(prefix);
	bool ok = req && set(req, "key", b64_string(prefix, plen, op->key, strlen(op->key)));

	if (ok && op->kind == BIP_OP_PUT)
		ok = set(req, "value", b64_string(op->value, op->len, NULL, 0));
	o = ok ? json_object() : NULL;
	if (!o) {
		json_decref(req);
		return NULL;
	}
	if (!set(o, op->kind == BIP_OP_PUT ? "request_put" : "request_delete_range", req)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *bip__etcd_encode_txn(const char *prefix, const struct bip_cmp *cmps, size_t ncmp,
			   const struct bip_op *ops, size_t nop, size_t *len)
{
	json_t *root = json_object(), *c = json_array(), *s = json_array();
	bool ok = root && c && s;

	for (size_t i = 0; ok && i < ncmp; i++)
		ok = json_array_append_new(c, compare(prefix, &cmps[i])) == 0;
	for (size_t i = 0; ok && i < nop; i++)
		ok = json_array_append_new(s, request_op(prefix, &ops[i])) == 0;
	ok = ok && set(root, "compare", json_incref(c)) && set(root, "success", json_incref(s));
	json_decref(c);
	json_decref(s);
	if (!ok) {
		json_decref(root);
		return NULL;
	}
	return dump(root, len);
}
