/*
 * libFuzzer target: the etcd HTTP client's response parser. The input is a response as read
 * from the socket. Checks what the parser promises: a verdict without crashing, a complete
 * response never longer than the input, a body within the limits, and the same verdict when the
 * chunked part of the input is fed to the decoder in two pieces, decoding in place.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/etcd/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct bip_http_resp r;
	struct bip_http_head h;
	size_t used = 0;
	int rc = bip__http_parse_response(in, size, &r, &used);

	if (rc == BIP_HTTP_DONE) {
		if (used > size || r.len > BIP_HTTP_BODY_MAX || r.body[r.len] != '\0' ||
		    r.status < 200 || r.status > 599)
			abort();
		bip__http_resp_clear(&r);
	}
	/* The head verdict must not change with more input once it is DONE or BAD. */
	int hv = bip__http_parse_head(in, size, &h);
	size_t step = size / 128 + 1;

	for (size_t k = size / 2; hv != BIP_HTTP_MORE && k < size; k += step) {
		struct bip_http_head h2;
		int v = bip__http_parse_head(in, k, &h2);

		if (v != BIP_HTTP_MORE && v != hv)
			abort();
		if (v == BIP_HTTP_DONE && (h2.len != h.len || h2.status != h.status))
			abort();
	}
	/* Chunked decoding in place, in two pieces, agrees with one piece over a copy. */
	if (hv == BIP_HTTP_DONE && h.chunked) {
		size_t n = size - h.len, cut = n / 3, outlen = 0, u1 = 0, u2 = 0, olen = 0, ou = 0;
		char *buf = malloc(n + 1), *copy = malloc(n + 1);
		struct bip_http_chunks c = {0}, c2 = {0};

		if (!buf || !copy)
			abort();
		memcpy(buf, in + h.len, n);
		int v = bip__http_chunks_feed(&c, buf, cut, &u1, buf, &outlen, BIP_HTTP_BODY_MAX);
		if (v == BIP_HTTP_MORE)
			v = bip__http_chunks_feed(&c, buf + u1, n - u1, &u2, buf, &outlen,
						  BIP_HTTP_BODY_MAX);
		int w =
		    bip__http_chunks_feed(&c2, in + h.len, n, &ou, copy, &olen, BIP_HTTP_BODY_MAX);
		if (v != w)
			abort();
		if (v == BIP_HTTP_DONE &&
		    (outlen != olen || memcmp(buf, copy, olen) != 0 || u1 + u2 != ou))
			abort();
		free(buf);
		free(copy);
	}
	return 0;
}
