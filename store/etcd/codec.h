/*
 * The etcd v3 JSON gateway's messages: requests built and responses decoded with jansson.
 * Keys and values travel as standard base64 with padding, int64 fields as decimal strings, and
 * fields with zero or false values are left out of responses (a lost txn has no "succeeded",
 * an empty range no "kvs"), so an absent field reads as 0, false or [].
 *
 * The decoders are pure functions over a response body, fuzzed by fuzz/fuzz_etcd.c. They
 * return BIP_OK, BIP_ECORRUPT for a body that is not what etcd sends, or BIP_ENOMEM.
 *
 * Internal to store/etcd.
 */
#ifndef BIP_STORE_ETCD_CODEC_H
#define BIP_STORE_ETCD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockipam/store.h"

/* Base64 (RFC 4648, with padding). The encoding has bip__b64_len(n) characters. */
size_t bip__b64_len(size_t n);
void bip__b64_encode(const unsigned char *in, size_t n, char *out /* bip__b64_len(n) + 1 */);
/* Strict: padding required, no white space, unused bits zero. out holds n / 4 * 3 bytes. */
int bip__b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

/* One decoded entry; key and value are NUL-terminated (their lengths exclude the NUL). */
struct bip_etcd_kv {
	const unsigned char *key;
	size_t klen;
	const unsigned char *value;
	size_t vlen;
	int64_t mod_rev;
};

/* Called for each entry in order; a non-zero return stops decoding and is returned. */
typedef int (*bip_etcd_kv_fn)(void *ctx, const struct bip_etcd_kv *kv);

struct bip_etcd_range {
	int64_t rev; /* header revision */
	bool more;   /* the limit cut the range short */
	size_t n;    /* entries in this response */
};

int bip__etcd_decode_range(const char *body, size_t len, bip_etcd_kv_fn fn, void *ctx,
			   struct bip_etcd_range *out);
int bip__etcd_decode_txn(const char *body, size_t len, int64_t *rev, bool *succeeded);
/*
 * The answer to a txn of n ranges and nothing else (bip__etcd_encode_reads): "succeeded" and
 * exactly n responses, each a "response_range", are required. fn gets each entry with the
 * index of its range; out[i] is range i (rev: the txn's header revision, which all share).
 * out may be partly written on failure.
 */
typedef int (*bip_etcd_read_fn)(void *ctx, size_t i, const struct bip_etcd_kv *kv);
int bip__etcd_decode_reads(const char *body, size_t len, size_t n, bip_etcd_read_fn fn, void *ctx,
			   struct bip_etcd_range *out);
/* An error body {"error","message","code"}: *code is the gRPC code (-1 when absent) and msg the
 * message (truncated, control characters replaced). Never fails: a body that is not an error
 * object gives code -1 and an empty message. */
void bip__etcd_decode_error(const char *body, size_t len, int *code, char *msg, size_t msglen);

/* A range request. Keys are absolute; end NULL: the key alone; limit, revision 0: none. */
struct bip_etcd_rangereq {
	const unsigned char *key;
	size_t klen;
	const unsigned char *end;
	size_t elen;
	int64_t limit;
	int64_t revision;
	bool keys_only;
};

/* Requests: NUL-terminated JSON text (free with free()), NULL when out of memory. Keys of
 * bip__etcd_encode_txn are given relative to prefix. */
char *bip__etcd_encode_range(const unsigned char *key, size_t klen, const unsigned char *end,
			     size_t elen, int64_t limit, int64_t revision, bool keys_only,
			     size_t *len);
/* A txn without compares whose success branch is the n ranges: n reads at one revision. */
char *bip__etcd_encode_reads(const struct bip_etcd_rangereq *r, size_t n, size_t *len);
char *bip__etcd_encode_txn(const char *prefix, const struct bip_cmp *cmps, size_t ncmp,
			   const struct bip_op *ops, size_t nop, size_t *len);

#endif
