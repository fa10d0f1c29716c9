/*
 * The etcd backend's pure parts, as tables: the HTTP response parser (head, chunked decoder,
 * whole responses, every split point of each good response), base64, and the decoders and
 * encoders of etcd's JSON messages. No server needed.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/etcd/codec.h"
#include "../store/etcd/http.h"
#include "blockipam/err.h"
#include "t.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A chunk holding one NUL byte, then one byte that is not part of the response. */
#define NUL_ROW "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\0\r\n0\r\n\r\nX"

static const struct resp_row {
	const char *in;
	int want; /* BIP_HTTP_DONE, _MORE, _BAD */
	int status;
	const char *body;
	bool close;
	size_t extra; /* bytes after the response, not consumed */
	size_t n;     /* input length when it holds a NUL byte (0: strlen) */
} resp_rows[] = {
    /* good */
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", BIP_HTTP_DONE, 200, "{}"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_DONE, 200, ""},
    {"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_DONE, 200, "x"},
    {"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_DONE, 200, "x"},
    {"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
     "Content-Length: 13\r\n\r\n{\"code\":14}\r\n",
     BIP_HTTP_DONE, 503, "{\"code\":14}\r\n"},
    {"HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nabc", BIP_HTTP_DONE, 200, "abc"},
    {"HTTP/1.1 200 OK\r\nContent-Length: \t3 \t\r\n\r\nabc", BIP_HTTP_DONE, 200, "abc"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", BIP_HTTP_DONE, 200,
     "abc"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP", BIP_HTTP_DONE, 200, "abc", false, 4},
    {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_DONE, 200, "x",
     true},
    {"HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 1\r\n\r\nx",
     BIP_HTTP_DONE, 200, "x", true},
    {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_DONE, 200,
     "x", false},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_DONE, 200, "x", true},
    {"HTTP/1.1 204 No Content\r\n\r\n", BIP_HTTP_DONE, 204, ""},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", BIP_HTTP_DONE,
     200, "abc"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
     "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
     BIP_HTTP_DONE, 200, "abc0123456789"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", BIP_HTTP_DONE, 200, ""},
    {NUL_ROW, BIP_HTTP_DONE, 200, "", false, 1, sizeof(NUL_ROW) - 1},
    {"HTTP/1.1 200 OK\r\nX-Odd: \x80\xff ok\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_DONE, 200, ""},
    /* incomplete */
    {"", BIP_HTTP_MORE},
    {"HTTP/1.", BIP_HTTP_MORE},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", BIP_HTTP_MORE},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcd", BIP_HTTP_MORE},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", BIP_HTTP_MORE},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n", BIP_HTTP_MORE},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n", BIP_HTTP_MORE},
    /* bad */
    {"HTTP/2 200 OK\r\n\r\n", BIP_HTTP_BAD},
    {"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 100 Continue\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\n\r\n", BIP_HTTP_BAD}, /* unframed */
    {"HTTP/1.1 200 OK\r\nContent-Length: 01\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\n Content-Length: 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\n: novalue\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nX: a\x01z\r\nContent-Length: 1\r\n\r\nx", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
     BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     BIP_HTTP_BAD},
    {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000001\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n bad\r\n\r\n", BIP_HTTP_BAD},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\n\r\n", BIP_HTTP_BAD},
    {"\x16\x03\x01\x00", BIP_HTTP_BAD}, /* a TLS record where HTTP was expected */
    {"<html>", BIP_HTTP_BAD},
};

static void check_resp_row(const struct resp_row *r, size_t i)
{
	struct bip_http_resp out = {.status = -7};
	size_t used = 12345, len = r->n ? r->n : strlen(r->in);
	int got = bip__http_parse_response(r->in, len, &out, &used);

	T_CHECK(got == r->want, "row %zu: got %d, want %d: '%.60s'", i, got, r->want, r->in);
	if (got != BIP_HTTP_DONE || r->want != BIP_HTTP_DONE) {
		T_CHECK(out.status == -7 && used == 12345, "row %zu: output written", i);
		return;
	}
	T_CHECK(out.status == r->status, "row %zu: status %d", i, out.status);
	T_CHECK(out.len == (r->n ? 1 : strlen(r->body)) &&
		    memcmp(out.body, r->body, out.len) == 0 && out.body[out.len] == '\0',
		"row %zu: body '%.*s'", i, (int)out.len, out.body);
	T_CHECK(out.close == r->close, "row %zu: close %d", i, out.close);
	T_CHECK(used == len - r->extra, "row %zu: consumed %zu of %zu", i, used, len);
	bip__http_resp_clear(&out);

	/* Every strict prefix of a complete response is incomplete, not bad or done. */
	for (size_t k = 0; k < len - r->extra; k++) {
		int p = bip__http_parse_response(r->in, k, &out, &used);

		T_CHECK(p == BIP_HTTP_MORE, "row %zu: prefix of %zu bytes gives %d", i, k, p);
		if (p == BIP_HTTP_DONE)
			bip__http_resp_clear(&out);
	}
}

static void test_http_responses(void)
{
	for (size_t i = 0; i < LEN(resp_rows); i++)
		check_resp_row(&resp_rows[i], i);
}

/* The chunked decoder fed one byte at a time, decoding in place, gives the same body. */
static void test_http_chunks_bytewise(void)
{
	char buf[] = "5\r\nhello\r\n1;x=y\r\n,\r\n6\r\n world\r\n0\r\nA: b\r\n\r\nNEXT";
	struct bip_http_chunks c = {0};
	size_t outlen = 0, pos = 0, used = 0;
	int rc = BIP_HTTP_MORE;

	while (rc == BIP_HTTP_MORE && pos < sizeof(buf) - 1) {
		rc = bip__http_chunks_feed(&c, buf + pos, 1, &used, buf, &outlen, 1000);
		pos += used;
	}
	T_CHECK_INT(rc, BIP_HTTP_DONE);
	T_CHECK(outlen == 12 && memcmp(buf, "hello, world", 12) == 0, "got '%.*s'", (int)outlen,
		buf);
	T_CHECK_STR(buf + pos, "NEXT");
}

static void test_http_chunks_limit(void)
{
	const char *in = "8\r\n12345678\r\n0\r\n\r\n";
	struct bip_http_chunks c = {0};
	char out[64];
	size_t outlen = 0, used = 0;

	T_CHECK_INT(bip__http_chunks_feed(&c, in, strlen(in), &used, out, &outlen, 7),
		    BIP_HTTP_BAD);
	c = (struct bip_http_chunks){0};
	outlen = 0;
	T_CHECK_INT(bip__http_chunks_feed(&c, in, strlen(in), &used, out, &outlen, 8),
		    BIP_HTTP_DONE);
}

static void test_http_head_limit(void)
{
	size_t n = BIP_HTTP_HEAD_MAX + 100;
	char *big = malloc(n);
	struct bip_http_head h;

	T_REQUIRE(big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 21);
	memset(big + 21, 'a', n - 21);
	T_CHECK_INT(bip__http_parse_head(big, BIP_HTTP_HEAD_MAX - 1, &h), BIP_HTTP_MORE);
	T_CHECK_INT(bip__http_parse_head(big, BIP_HTTP_HEAD_MAX, &h), BIP_HTTP_BAD);
	T_CHECK_INT(bip__http_parse_head(big, n, &h), BIP_HTTP_BAD);
	free(big);
}

/* --- base64 ----------------------------------------------------------------------------- */

static const struct {
	const char *raw, *enc;
} b64_rows[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"/ipam/pool1/10.1.0.2", "L2lwYW0vcG9vbDEvMTAuMS4wLjI="},
    {"\xff\xfe\xfd", "//79"},
};

static void test_b64(void)
{
	for (size_t i = 0; i < LEN(b64_rows); i++) {
		char enc[64];
		unsigned char dec[64];
		size_t n = strlen(b64_rows[i].raw), dl = 99;

		T_CHECK_INT(bip__b64_len(n), strlen(b64_rows[i].enc));
		bip__b64_encode((const unsigned char *)b64_rows[i].raw, n, enc);
		T_CHECK_STR(enc, b64_rows[i].enc);
		T_CHECK_INT(bip__b64_decode(enc, strlen(enc), dec, &dl), BIP_OK);
		T_CHECK(dl == n && memcmp(dec, b64_rows[i].raw, n) == 0, "row %zu", i);
	}
	static const char *const bad[] = {"Zg",	  "Zg=",  "Z===",   "====", "Zg==Zg==", "Zh==",
					  "Zm9=", "Zm 9", "Zm9v\n", "Zm-v", "Z=9v",	"Zm=v"};
	for (size_t i = 0; i < LEN(bad); i++) {
		unsigned char dec[16];
		size_t dl;

		T_CHECK(bip__b64_decode(bad[i], strlen(bad[i]), dec, &dl) == BIP_ECORRUPT, "'%s'",
			bad[i]);
	}
}

/* --- etcd messages ---------------------------------------------------------------------- */

struct seen {
	char keys[256];
	int64_t revs[8];
	size_t n, vbytes;
};

static int seen_kv(void *p, const struct bip_etcd_kv *kv)
{
	struct seen *s = p;
	size_t off = strlen(s->keys);

	snprintf(s->keys + off, sizeof(s->keys) - off, "%s%s=%s", off ? "|" : "",
		 (const char *)kv->key, (const char *)kv->value);
	if (s->n < 8)
		s->revs[s->n] = kv->mod_rev;
	s->n++;
	s->vbytes += kv->vlen;
	return 0;
}

static const struct {
	const char *body;
	int want;
	int64_t rev;
	bool more;
	const char *keys;
} range_rows[] = {
    /* as etcd 3.4 sends them */
    {"{\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"10276657743932975437\","
     "\"revision\":\"6\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":"
     "\"2\",\"mod_revision\":\"4\",\"version\":\"3\",\"value\":\"djE=\"}],\"count\":\"1\"}",
     BIP_OK, 6, false, "a=v1"},
    {"{\"header\":{\"revision\":\"9\"}}", BIP_OK, 9, false, ""},
    {"{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":\"3\"},"
     "{\"key\":\"Yg==\",\"mod_revision\":\"5\"}],\"more\":true,\"count\":\"7\"}",
     BIP_OK, 9, true, "a=|b="},
    {"{\"header\":{\"revision\":9},\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":3}]}", BIP_OK, 9,
     false, "a="},
    {"{\"header\":{\"revision\":\"9223372036854775807\"}}", BIP_OK, INT64_MAX, false, ""},
    /* not what etcd sends */
    {"", BIP_ECORRUPT},
    {"[]", BIP_ECORRUPT},
    {"{}", BIP_ECORRUPT},
    {"{\"header\":{}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"0\"}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"-1\"}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"07\"}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"9223372036854775808\"}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1x\"}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":1.5}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"kvs\":{}}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"kvs\":[1]}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"mod_revision\":\"1\"}]}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"YQ\",\"mod_revision\":\"1\"}]}",
     BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"YQ==\"}]}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":\"1\","
     "\"value\":5}]}",
     BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"more\":\"true\"}", BIP_ECORRUPT},
    {"{\"header\":{\"revision\":\"1\"},\"header\":{\"revision\":\"2\"}}", BIP_ECORRUPT},
};

static void test_etcd_decode_range(void)
{
	for (size_t i = 0; i < LEN(range_rows); i++) {
		struct seen s = {{0}};
		struct bip_etcd_range r = {.rev = -5};
		const char *b = range_rows[i].body;
		int rc = bip__etcd_decode_range(b, strlen(b), seen_kv, &s, &r);

		T_CHECK(rc == range_rows[i].want, "row %zu: %s", i, bip_errname(rc));
		if (rc != BIP_OK) {
			T_CHECK(r.rev == -5, "row %zu: written on failure", i);
			continue;
		}
		T_CHECK(r.rev == range_rows[i].rev, "row %zu: rev %" PRId64, i, r.rev);
		T_CHECK(r.more == range_rows[i].more, "row %zu: more", i);
		T_CHECK(r.n == s.n, "row %zu: n", i);
		T_CHECK_STR(s.keys, range_rows[i].keys);
	}
}

static void test_etcd_decode_txn(void)
{
	static const struct {
		const char *body;
		int want;
		bool ok;
		int64_t rev;
	} rows[] = {
	    {"{\"header\":{\"revision\":\"6\"},\"succeeded\":true,\"responses\":[{\"response_put\":"
	     "{\"header\":{\"revision\":\"6\"}}}]}",
	     BIP_OK, true, 6},
	    {"{\"header\":{\"revision\":\"6\"}}", BIP_OK, false, 6}, /* lost: no "succeeded" */
	    {"{\"header\":{\"revision\":\"6\"},\"succeeded\":false}", BIP_OK, false, 6},
	    {"{\"header\":{\"revision\":\"6\"},\"succeeded\":1}", BIP_ECORRUPT},
	    {"{\"succeeded\":true}", BIP_ECORRUPT},
	    {"{\"header\":{\"revision\":\"6\"},\"succeeded\":true", BIP_ECORRUPT},
	};

	for (size_t i = 0; i < LEN(rows); i++) {
		int64_t rev = -1;
		bool ok = false;
		int rc = bip__etcd_decode_txn(rows[i].body, strlen(rows[i].body), &rev, &ok);

		T_CHECK(rc == rows[i].want, "row %zu: %s", i, bip_errname(rc));
		if (rc == BIP_OK)
			T_CHECK(ok == rows[i].ok && rev == rows[i].rev, "row %zu", i);
		else
			T_CHECK(rev == -1, "row %zu: written on failure", i);
	}
}

static void test_etcd_decode_error(void)
{
	static const char *const body =
	    "{\"error\":\"etcdserver: request timed out\",\"message\":\"etcdserver: request "
	    "timed out\",\"code\":14}";
	const char *body2;
	char msg[64];
	int code;

	bip__etcd_decode_error(body, strlen(body), &code, msg, sizeof(msg));
	T_CHECK_INT(code, 14);
	T_CHECK_STR(msg, "etcdserver: request timed out");
	bip__etcd_decode_error("404 page not found\n", 19, &code, msg, sizeof(msg));
	T_CHECK_INT(code, -1);
	T_CHECK_STR(msg, "");
	body2 = "{\"error\":\"a\\nb\",\"code\":\"3\"}";
	bip__etcd_decode_error(body2, strlen(body2), &code, msg, sizeof(msg));
	T_CHECK_INT(code, -1);
	T_CHECK_STR(msg, "a?b");
}

static void test_etcd_encode(void)
{
	struct bip_cmp cmps[] = {{"a", 0}, {"b", 42}};
	unsigned char v[] = {0, 1, 0xff};
	struct bip_op ops[] = {
	    {BIP_OP_PUT, "a", v, 3}, {BIP_OP_DEL, "c", NULL, 0}, {BIP_OP_PUT, "e", NULL, 0}};
	size_t len = 0;
	char *s = bip__etcd_encode_txn("/p/", cmps, 2, ops, 3, &len);

	T_REQUIRE(s);
	T_CHECK_STR(s, "{\"compare\":[{\"key\":\"L3AvYQ==\",\"result\":\"EQUAL\",\"target\":"
		       "\"CREATE\",\"create_revision\":\"0\"},{\"key\":\"L3AvYg==\",\"result\":"
		       "\"EQUAL\",\"target\":\"MOD\",\"mod_revision\":\"42\"}],\"success\":[{"
		       "\"request_put\":{\"key\":\"L3AvYQ==\",\"value\":\"AAH/\"}},{"
		       "\"request_delete_range\":{\"key\":\"L3AvYw==\"}},{\"request_put\":{\"key\":"
		       "\"L3AvZQ==\",\"value\":\"\"}}]}");
	T_CHECK_INT(len, strlen(s));
	free(s);
	s = bip__etcd_encode_range((const unsigned char *)"/p/", 3, (const unsigned char *)"/p0", 3,
				   1000, 17, true, &len);
	T_REQUIRE(s);
	T_CHECK_STR(s, "{\"key\":\"L3Av\",\"range_end\":\"L3Aw\",\"limit\":\"1000\",\"revision\":"
		       "\"17\",\"keys_only\":true}");
	free(s);
	s = bip__etcd_encode_range((const unsigned char *)"k", 1, NULL, 0, 0, 0, false, &len);
	T_REQUIRE(s);
	T_CHECK_STR(s, "{\"key\":\"aw==\"}");
	free(s);
}

T_MAIN(T(test_http_responses), T(test_http_chunks_bytewise), T(test_http_chunks_limit),
       T(test_http_head_limit), T(test_b64), T(test_etcd_decode_range), T(test_etcd_decode_txn),
       T(test_etcd_decode_error), T(test_etcd_encode))
