/*
 * The response head of the etcd client's HTTP/1.1 (http.h says what it accepts), and one whole
 * response over a complete buffer (the tests and the fuzzer). Parsing is strict (RFC 9112
 * grammar, CRLF only, no obsolete folding, one framing per response) because the one server it
 * talks to is strict too, and whatever else answers on that port is better refused than guessed
 * at. Pure functions over bytes: no allocation but the body bip__http_parse_response() returns.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "http_lex.h"

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* 1*DIGIT without leading zeros, at most max. */
static bool parse_length(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* Does the comma-separated token list s[0..len) hold token (case-insensitive)? */
static bool list_has(const char *s, size_t len, const char *token)
{
	size_t i = 0;

	while (i < len) {
		size_t b, e;

		while (i < len && (bip__http_ows((unsigned char)s[i]) || s[i] == ','))
			i++;
		b = i;
		while (i < len && s[i] != ',')
			i++;
		e = i;
		while (e > b && bip__http_ows((unsigned char)s[e - 1]))
			e--;
		if (e > b && name_is(s + b, e - b, token))
			return true;
	}
	return false;
}

/* One header field line [p, eol) (CRLF excluded) into h. */
static int parse_field(const char *p, const char *eol, struct bip_http_head *h, bool *have_cl,
		       bool *have_te)
{
	const char *name = p, *v, *ve;
	size_t nlen;

	while (p < eol && bip__http_tchar((unsigned char)*p))
		p++;
	nlen = (size_t)(p - name);
	if (nlen == 0 || p == eol || *p != ':')
		return BIP_HTTP_BAD; /* also a folded line: it starts with white space */
	v = p + 1;
	while (v < eol && bip__http_ows((unsigned char)*v))
		v++;
	ve = eol;
	while (ve > v && bip__http_ows((unsigned char)ve[-1]))
		ve--;
	for (const char *q = v; q < ve; q++)
		if (!bip__http_fchar((unsigned char)*q) && !bip__http_ows((unsigned char)*q))
			return BIP_HTTP_BAD;
	if (name_is(name, nlen, "content-length")) {
		uint64_t n;

		if (!parse_length(v, (size_t)(ve - v), BIP_HTTP_BODY_MAX, &n))
			return BIP_HTTP_BAD;
		if (*have_cl && n != h->length)
			return BIP_HTTP_BAD;
		h->length = n;
		*have_cl = true;
	} else if (name_is(name, nlen, "transfer-encoding")) {
		if (*have_te || !name_is(v, (size_t)(ve - v), "chunked"))
			return BIP_HTTP_BAD;
		h->chunked = true;
		*have_te = true;
	} else if (name_is(name, nlen, "connection")) {
		if (list_has(v, (size_t)(ve - v), "close"))
			h->close = true;
	}
	return BIP_HTTP_DONE;
}

int bip__http_parse_head(const char *buf, size_t len, struct bip_http_head *out)
{
	static const char proto[] = "HTTP/1.";
	struct bip_http_head h = {0};
	size_t n = len < BIP_HTTP_HEAD_MAX ? len : BIP_HTTP_HEAD_MAX, end = 0;
	bool have_cl = false, have_te = false;
	const char *p, *eol;

	/* A wrong start is refused at once rather than after a timeout. */
	for (size_t i = 0; i < n && i < sizeof(proto) - 1; i++)
		if (buf[i] != proto[i])
			return BIP_HTTP_BAD;
	for (size_t i = 0; i < n && !end; i++) {
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return BIP_HTTP_BAD; /* bare LF */
			if (i >= 3 && buf[i - 2] == '\n')
				end = i + 1;
		} else if (i > 0 && buf[i - 1] == '\r') {
			return BIP_HTTP_BAD; /* bare CR */
		}
	}
	if (!end)
		return len >= BIP_HTTP_HEAD_MAX ? BIP_HTTP_BAD : BIP_HTTP_MORE;

	/* Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF. */
	if (end < 14 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
		return BIP_HTTP_BAD;
	for (int i = 9; i < 12; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return BIP_HTTP_BAD;
	h.status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (h.status < 200 || h.status > 599)
		return BIP_HTTP_BAD; /* 1xx: never asked for */
	p = buf + 12;
	eol = memchr(p, '\r', end - 12);
	if (p != eol) {
		if (*p != ' ')
			return BIP_HTTP_BAD;
		for (const char *q = p + 1; q < eol; q++)
			if (!bip__http_fchar((unsigned char)*q) &&
			    !bip__http_ows((unsigned char)*q))
				return BIP_HTTP_BAD;
	}
	h.close = buf[7] == '0'; /* HTTP/1.0: no keep-alive */

	/* Fields until the empty line. */
	for (p = eol + 2; p < buf + end - 2; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(buf + end - p));
		if (parse_field(p, eol, &h, &have_cl, &have_te) != BIP_HTTP_DONE)
			return BIP_HTTP_BAD;
	}
	if (have_te && (have_cl || buf[7] == '0'))
		return BIP_HTTP_BAD;
	if (h.status == 204 || h.status == 304) {
		h.length = 0;
		h.chunked = false;
	} else if (!have_cl && !have_te) {
		return BIP_HTTP_BAD; /* delimited by close: not accepted */
	}
	h.len = end;
	*out = h;
	return BIP_HTTP_DONE;
}

int bip__http_parse_response(const char *buf, size_t len, struct bip_http_resp *out,
			     size_t *consumed)
{
	struct bip_http_head h;
	struct bip_http_chunks ch = {0};
	size_t blen = 0, used = 0;
	char *body = NULL;
	int rc = bip__http_parse_head(buf, len, &h);

	if (rc != BIP_HTTP_DONE)
		return rc;
	if (!h.chunked) {
		if (len - h.len < h.length)
			return BIP_HTTP_MORE;
		body = malloc((size_t)h.length + 1);
		if (!body)
			return BIP_HTTP_BAD;
		memcpy(body, buf + h.len, (size_t)h.length);
		blen = (size_t)h.length;
		used = h.len + blen;
	} else {
		body = malloc(len - h.len + 1); /* decoded data are never longer */
		if (!body)
			return BIP_HTTP_BAD;
		rc = bip__http_chunks_feed(&ch, buf + h.len, len - h.len, &used, body, &blen,
					   BIP_HTTP_BODY_MAX);
		if (rc != BIP_HTTP_DONE) {
			free(body);
			return rc;
		}
		used += h.len;
	}
	body[blen] = '\0';
	*out =
	    (struct bip_http_resp){.status = h.status, .close = h.close, .body = body, .len = blen};
	*consumed = used;
	return BIP_HTTP_DONE;
}

void bip__http_resp_clear(struct bip_http_resp *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}
