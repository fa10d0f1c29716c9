/*
 * The chunked transfer coding (RFC 9112 section 7.1) of the etcd client, decoded as the bytes
 * arrive: a state machine over one byte of framing at a time, with the data of a chunk copied
 * in one piece. Strict: hex sizes of at most 16 digits, CRLF only, printable extensions
 * (ignored), trailer fields well-formed and at most BIP_HTTP_HEAD_MAX bytes, the decoded body at
 * most the caller's limit. A pure function over bytes (http.h); the connection (http.c) and
 * bip__http_parse_response() (http_parse.c) both run it.
 */
#include <stdint.h>
#include <string.h>

#include "http.h"
#include "http_lex.h"

enum {
	CH_SIZE,
	CH_EXT,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,
	CH_TRAILER_LINE,
	CH_TRAILER_LF,
	CH_END_LF,
};

#define CHUNK_LINE_MAX 1024

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One byte of a chunk-size line (CH_SIZE, CH_EXT, CH_SIZE_LF); room: data bytes still allowed. */
static int size_byte(struct bip_http_chunks *c, unsigned char ch, size_t room)
{
	switch (c->state) {
	case CH_SIZE: {
		int d = hexval(ch);

		if (d >= 0 && c->digits < 16) {
			c->left = c->left * 16 + (uint64_t)d;
			c->digits++;
			if (c->left > room)
				return BIP_HTTP_BAD;
		} else if (c->digits && ch == ';') {
			c->state = CH_EXT;
		} else if (c->digits && ch == '\r') {
			c->state = CH_SIZE_LF;
		} else {
			return BIP_HTTP_BAD;
		}
		break;
	}
	case CH_EXT:
		/* Extensions are ignored, but must be printable. */
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (!bip__http_fchar(ch) && !bip__http_ows(ch))
			return BIP_HTTP_BAD;
		break;
	default: /* CH_SIZE_LF */
		if (ch != '\n')
			return BIP_HTTP_BAD;
		c->state = c->left ? CH_DATA : CH_TRAILER;
		c->line = 0;
		c->digits = 0;
		return BIP_HTTP_MORE;
	}
	return ++c->line > CHUNK_LINE_MAX ? BIP_HTTP_BAD : BIP_HTTP_MORE;
}

/* One byte of the trailer section (CH_TRAILER, CH_TRAILER_LINE, CH_TRAILER_LF, CH_END_LF):
 * DONE after the final LF. */
static int trailer_byte(struct bip_http_chunks *c, unsigned char ch)
{
	switch (c->state) {
	case CH_TRAILER:
		if (ch == '\r')
			c->state = CH_END_LF;
		else if (bip__http_tchar(ch))
			c->state = CH_TRAILER_LINE;
		else
			return BIP_HTTP_BAD;
		break;
	case CH_TRAILER_LINE:
		if (ch == '\r')
			c->state = CH_TRAILER_LF;
		else if (!bip__http_fchar(ch) && !bip__http_ows(ch))
			return BIP_HTTP_BAD;
		break;
	case CH_TRAILER_LF:
		if (ch != '\n')
			return BIP_HTTP_BAD;
		c->state = CH_TRAILER;
		return BIP_HTTP_MORE;
	default: /* CH_END_LF */
		return ch == '\n' ? BIP_HTTP_DONE : BIP_HTTP_BAD;
	}
	return ++c->trailers > BIP_HTTP_HEAD_MAX ? BIP_HTTP_BAD : BIP_HTTP_MORE;
}

/* One byte of framing in any state but CH_DATA. */
static int frame_byte(struct bip_http_chunks *c, unsigned char ch, size_t room)
{
	switch (c->state) {
	case CH_SIZE:
	case CH_EXT:
	case CH_SIZE_LF:
		return size_byte(c, ch, room);
	case CH_DATA_CR:
		if (ch != '\r')
			return BIP_HTTP_BAD;
		c->state = CH_DATA_LF;
		return BIP_HTTP_MORE;
	case CH_DATA_LF:
		if (ch != '\n')
			return BIP_HTTP_BAD;
		c->state = CH_SIZE;
		return BIP_HTTP_MORE;
	case CH_TRAILER:
	case CH_TRAILER_LINE:
	case CH_TRAILER_LF:
	case CH_END_LF:
		return trailer_byte(c, ch);
	default:
		return BIP_HTTP_BAD;
	}
}

int bip__http_chunks_feed(struct bip_http_chunks *c, const char *in, size_t len, size_t *used,
			  char *out, size_t *outlen, size_t max)
{
	size_t i = 0;

	while (i < len) {
		int rc;

		if (c->state == CH_DATA) {
			size_t k = len - i;

			if (k > c->left)
				k = (size_t)c->left;
			memmove(out + *outlen, in + i, k);
			*outlen += k;
			c->left -= k;
			i += k;
			if (!c->left)
				c->state = CH_DATA_CR;
			continue;
		}
		rc = frame_byte(c, (unsigned char)in[i], max - *outlen);
		if (rc == BIP_HTTP_BAD)
			return BIP_HTTP_BAD;
		i++;
		if (rc == BIP_HTTP_DONE) {
			*used = i;
			return BIP_HTTP_DONE;
		}
	}
	*used = i;
	return BIP_HTTP_MORE;
}
