/*
 * libFuzzer target: the decoders of etcd's JSON answers (range, txn, a txn of ranges, error) and
 * base64. The input is a response body. Checks that decoded entries are NUL-terminated, keys
 * non-empty, revisions positive, range indexes in bounds, and that base64 that decodes encodes
 * back to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/etcd/codec.h"
#include "blockipam/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_kv(void *ctx, const struct bip_etcd_kv *kv)
{
	(void)ctx;
	if (!kv->klen || kv->key[kv->klen] != '\0' || kv->value[kv->vlen] != '\0' ||
	    kv->mod_rev <= 0)
		abort();
	return 0;
}

static int check_read(void *ctx, size_t i, const struct bip_etcd_kv *kv)
{
	if (i >= *(const size_t *)ctx)
		abort();
	return check_kv(NULL, kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct bip_etcd_range r;
	int64_t rev = 0;
	bool ok;
	char msg[64];
	int code;

	if (bip__etcd_decode_range(in, size, check_kv, NULL, &r) == BIP_OK && r.rev <= 0)
		abort();
	if (bip__etcd_decode_txn(in, size, &rev, &ok) == BIP_OK && rev <= 0)
		abort();
	for (size_t n = 1; n <= 3; n++) {
		struct bip_etcd_range rr[3];

		if (bip__etcd_decode_reads(in, size, n, check_read, &n, rr) != BIP_OK)
			continue;
		for (size_t i = 0; i < n; i++)
			if (rr[i].rev <= 0 || rr[i].rev != rr[0].rev)
				abort();
	}
	bip__etcd_decode_error(in, size, &code, msg, sizeof(msg));
	if (strlen(msg) >= sizeof(msg) || code < -1 || code >= 100)
		abort();

	unsigned char *dec = malloc(size / 4 * 3 + 1);
	size_t dl = 0;

	if (!dec)
		abort();
	if (bip__b64_decode(in, size, dec, &dl) == BIP_OK) {
		char *enc = malloc(bip__b64_len(dl) + 1);

		if (!enc)
			abort();
		bip__b64_encode(dec, dl, enc);
		if (bip__b64_len(dl) != size || memcmp(enc, in, size) != 0)
			abort();
		free(enc);
	}
	free(dec);
	return 0;
}
