/*
 * The HTTP/1.1 client behind the etcd backend (http.h says what it accepts). Parsing is strict
 * (RFC 9112 grammar, CRLF only, no obsolete folding, one framing per response) because the one
 * server it talks to is strict too, and whatever else answers on that port is better refused
 * than guessed at. Bodies are decoded in place in the connection's buffer: a chunked body is
 * compacted as it arrives, so the buffer never holds much more than the decoded body.
 *
 * Every wait is a poll() bounded by two limits: the caller's deadline for the whole operation,
 * and an idle limit on a silent server (etcd hangs, rather than fails, during an election).
 */
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/err.h"
#include "../store_int.h"
#include "http.h"
#include "tls.h"

/* --- parsing -------------------------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* VCHAR or obs-text */
static bool is_fchar(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

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

		while (i < len && (is_ows((unsigned char)s[i]) || s[i] == ','))
			i++;
		b = i;
		while (i < len && s[i] != ',')
			i++;
		e = i;
		while (e > b && is_ows((unsigned char)s[e - 1]))
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

	while (p < eol && is_tchar((unsigned char)*p))
		p++;
	nlen = (size_t)(p - name);
	if (nlen == 0 || p == eol || *p != ':')
		return BIP_HTTP_BAD; /* also a folded line: it starts with white space */
	v = p + 1;
	while (v < eol && is_ows((unsigned char)*v))
		v++;
	ve = eol;
	while (ve > v && is_ows((unsigned char)ve[-1]))
		ve--;
	for (const char *q = v; q < ve; q++)
		if (!is_fchar((unsigned char)*q) && !is_ows((unsigned char)*q))
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
			if (!is_fchar((unsigned char)*q) && !is_ows((unsigned char)*q))
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

int bip__http_chunks_feed(struct bip_http_chunks *c, const char *in, size_t len, size_t *used,
			  char *out, size_t *outlen, size_t max)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)in[i];

		switch (c->state) {
		case CH_SIZE: {
			int d = hexval(ch);

			if (d >= 0 && c->digits < 16) {
				c->left = c->left * 16 + (uint64_t)d;
				c->digits++;
				if (c->left > max - *outlen)
					return BIP_HTTP_BAD;
			} else if (c->digits && ch == ';') {
				c->state = CH_EXT;
			} else if (c->digits && ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return BIP_HTTP_BAD;
			}
			if (++c->line > CHUNK_LINE_MAX)
				return BIP_HTTP_BAD;
			i++;
			break;
		}
		case CH_EXT:
			/* Extensions are ignored, but must be printable. */
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (!is_fchar(ch) && !is_ows(ch))
				return BIP_HTTP_BAD;
			if (++c->line > CHUNK_LINE_MAX)
				return BIP_HTTP_BAD;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return BIP_HTTP_BAD;
			c->state = c->left ? CH_DATA : CH_TRAILER;
			c->line = 0;
			c->digits = 0;
			i++;
			break;
		case CH_DATA: {
			size_t k = len - i;

			if (k > c->left)
				k = (size_t)c->left;
			memmove(out + *outlen, in + i, k);
			*outlen += k;
			c->left -= k;
			i += k;
			if (!c->left)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return BIP_HTTP_BAD;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return BIP_HTTP_BAD;
			c->state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\r')
				c->state = CH_END_LF;
			else if (is_tchar(ch))
				c->state = CH_TRAILER_LINE;
			else
				return BIP_HTTP_BAD;
			if (++c->trailers > BIP_HTTP_HEAD_MAX)
				return BIP_HTTP_BAD;
			i++;
			break;
		case CH_TRAILER_LINE:
			if (ch == '\r')
				c->state = CH_TRAILER_LF;
			else if (!is_fchar(ch) && !is_ows(ch))
				return BIP_HTTP_BAD;
			if (++c->trailers > BIP_HTTP_HEAD_MAX)
				return BIP_HTTP_BAD;
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return BIP_HTTP_BAD;
			c->state = CH_TRAILER;
			i++;
			break;
		case CH_END_LF:
			if (ch != '\n')
				return BIP_HTTP_BAD;
			*used = i + 1;
			return BIP_HTTP_DONE;
		default:
			return BIP_HTTP_BAD;
		}
	}
	*used = i;
	return BIP_HTTP_MORE;
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

/* --- the connection ------------------------------------------------------------------- */

int64_t bip__http_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void bip__http_conn_init(struct bip_http_conn *c)
{
	*c = (struct bip_http_conn){.fd = -1};
}

bool bip__http_conn_open(const struct bip_http_conn *c)
{
	return c->fd >= 0;
}

void bip__http_conn_close(struct bip_http_conn *c)
{
	bip__tls_conn_free(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void bip__http_conn_free(struct bip_http_conn *c)
{
	bip__http_conn_close(c);
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* Wait for events on fd until the earlier of deadline and idle_ms from now (idle_ms < 0: no
 * idle limit). */
static int wait_fd(int fd, short events, int idle_ms, int64_t deadline)
{
	int64_t limit = deadline, now = bip__http_now_ms();

	if (idle_ms >= 0 && now + idle_ms < limit)
		limit = now + idle_ms;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (now >= limit)
			return BIP_ETIMEDOUT;
		r = poll(&p, 1, (int)(limit - now));
		if (r > 0)
			return BIP_OK; /* errors and hang-ups show in the next read or write */
		if (r == 0)
			return BIP_ETIMEDOUT;
		if (errno != EINTR)
			return BIP_EIO;
		now = bip__http_now_ms();
	}
}

static int tls_result(ssize_t r, const char *what, char *err, size_t errlen)
{
	switch (r) {
	case BIP_TLS_EOF:
		bip__store_seterr(err, errlen, "%s: connection closed by the server", what);
		return BIP_EAGAIN;
	case BIP_TLS_RESET:
		bip__store_seterr(err, errlen, "%s: connection reset", what);
		return BIP_EAGAIN;
	default:
		return BIP_EPERM; /* err was set by tls.c */
	}
}

/* Read at least one byte into buf; *got = 0 at end of stream. */
static int conn_read(struct bip_http_conn *c, char *buf, size_t len, size_t *got, int idle_ms,
		     int64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		short ev = POLLIN;
		int rc;

		if (c->tls) {
			ssize_t r = bip__tls_read(c->tls, buf, len, err, errlen);

			if (r > 0) {
				*got = (size_t)r;
				return BIP_OK;
			}
			if (r == BIP_TLS_EOF) {
				*got = 0;
				return BIP_OK;
			}
			if (r == BIP_TLS_WANT_WRITE)
				ev = POLLOUT;
			else if (r != BIP_TLS_WANT_READ)
				return tls_result(r, "read", err, errlen);
		} else {
			ssize_t r = recv(c->fd, buf, len, 0);

			if (r >= 0) {
				*got = (size_t)r;
				return BIP_OK;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				bip__store_seterr(err, errlen, "read: %s", strerror(errno));
				return BIP_EAGAIN;
			}
		}
		rc = wait_fd(c->fd, ev, idle_ms, deadline);
		if (rc == BIP_ETIMEDOUT)
			bip__store_seterr(err, errlen, "no answer within %d ms", idle_ms);
		if (rc != BIP_OK)
			return rc;
	}
}

static int conn_write(struct bip_http_conn *c, const char *buf, size_t len, int idle_ms,
		      int64_t deadline, char *err, size_t errlen)
{
	size_t off = 0;

	while (off < len) {
		short ev = POLLOUT;
		int rc;

		if (c->tls) {
			ssize_t r = bip__tls_write(c->tls, buf + off, len - off, err, errlen);

			if (r > 0) {
				off += (size_t)r;
				continue;
			}
			if (r == BIP_TLS_WANT_READ)
				ev = POLLIN;
			else if (r != BIP_TLS_WANT_WRITE)
				return tls_result(r, "write", err, errlen);
		} else {
			ssize_t r = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

			if (r >= 0) {
				off += (size_t)r;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				bip__store_seterr(err, errlen, "write: %s", strerror(errno));
				return BIP_EAGAIN;
			}
		}
		rc = wait_fd(c->fd, ev, idle_ms, deadline);
		if (rc == BIP_ETIMEDOUT)
			bip__store_seterr(err, errlen, "cannot send for %d ms", idle_ms);
		if (rc != BIP_OK)
			return rc;
	}
	return BIP_OK;
}

bool bip__http_conn_alive(struct bip_http_conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	char b;

	if (c->fd < 0)
		return false;
	if (poll(&p, 1, 0) == 0)
		return true;
	/* Readable while idle: the server closed (EOF, reset), or TLS housekeeping (a session
	 * ticket, consumed here). Anything else is out of turn. */
	if (c->tls) {
		if (bip__tls_read(c->tls, &b, 1, NULL, 0) == BIP_TLS_WANT_READ)
			return true;
	} else if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
		   (errno == EAGAIN || errno == EWOULDBLOCK)) {
		return true;
	}
	bip__http_conn_close(c);
	return false;
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fdp)
{
	int one = 1, soerr = 0, rc;
	socklen_t sl = sizeof(soerr);
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		return errno;
	/* The request is one write; do not let Nagle hold it behind a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto done;
	if (errno != EINPROGRESS) {
		soerr = errno;
		goto fail;
	}
	rc = wait_fd(fd, POLLOUT, -1, deadline);
	if (rc == BIP_ETIMEDOUT) {
		soerr = ETIMEDOUT;
		goto fail;
	}
	if (rc != BIP_OK || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
		if (!soerr)
			soerr = errno ? errno : EIO;
		goto fail;
	}
done:
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return soerr;
}

int bip__http_connect(struct bip_http_conn *c, const char *host, const char *port,
		      struct bip_tls *tls, int64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int fd = -1, e = 0, rc = BIP_EAGAIN, gai;

	bip__http_conn_close(c);
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		bip__store_seterr(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(gai));
		return gai == EAI_MEMORY ? BIP_ENOMEM : BIP_EAGAIN;
	}
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		e = connect_one(ai, deadline, &fd);
	freeaddrinfo(res);
	if (fd < 0) {
		bip__store_seterr(err, errlen, "connect: %s", strerror(e ? e : EIO));
		return BIP_EAGAIN;
	}
	c->fd = fd;
	if (tls) {
		rc = bip__tls_conn_new(tls, fd, host, &c->tls, err, errlen);
		while (rc == BIP_OK) {
			int r = bip__tls_handshake(c->tls, err, errlen);

			if (r == 0)
				break;
			if (r != BIP_TLS_WANT_READ && r != BIP_TLS_WANT_WRITE) {
				rc = tls_result(r, "TLS handshake", err, errlen);
				break;
			}
			rc = wait_fd(fd, r == BIP_TLS_WANT_READ ? POLLIN : POLLOUT, -1, deadline);
			if (rc == BIP_ETIMEDOUT) {
				bip__store_seterr(err, errlen, "TLS handshake timed out");
				rc = BIP_EAGAIN;
			}
		}
		if (rc != BIP_OK) {
			bip__http_conn_close(c);
			return rc;
		}
	}
	c->connects++;
	c->len = 0;
	return BIP_OK;
}

static int reserve(struct bip_http_conn *c, size_t need)
{
	size_t cap = c->cap ? c->cap : 16384;
	char *b;

	if (need <= c->cap)
		return BIP_OK;
	while (cap < need)
		cap *= 2;
	b = realloc(c->buf, cap);
	if (!b)
		return BIP_ENOMEM;
	c->buf = b;
	c->cap = cap;
	return BIP_OK;
}

/* Read more bytes into the buffer (keeping room for a NUL). */
static int read_more(struct bip_http_conn *c, int idle_ms, int64_t deadline, char *err,
		     size_t errlen)
{
	size_t got = 0;
	int rc = reserve(c, c->len + 16384 + 1);

	if (rc != BIP_OK)
		return rc;
	rc = conn_read(c, c->buf + c->len, c->cap - c->len - 1, &got, idle_ms, deadline, err,
		       errlen);
	if (rc != BIP_OK)
		return rc;
	if (got == 0) {
		bip__store_seterr(err, errlen, "connection closed by the server%s",
				  c->len ? " in the middle of a response" : "");
		return BIP_EAGAIN;
	}
	c->len += got;
	return BIP_OK;
}

static int read_response(struct bip_http_conn *c, int idle_ms, int64_t deadline,
			 struct bip_http_res *res, char *err, size_t errlen)
{
	struct bip_http_head h;
	size_t end, blen = 0;
	bool extra;
	int rc;

	c->len = 0;
	for (;;) {
		int p = bip__http_parse_head(c->buf, c->len, &h);

		if (p == BIP_HTTP_DONE)
			break;
		if (p == BIP_HTTP_BAD) {
			bip__store_seterr(err, errlen, "malformed HTTP response head");
			return BIP_EIO;
		}
		rc = read_more(c, idle_ms, deadline, err, errlen);
		if (rc != BIP_OK)
			return rc;
	}
	if (!h.chunked) {
		end = h.len + (size_t)h.length;
		rc = reserve(c, end + 1);
		while (rc == BIP_OK && c->len < end) {
			size_t got = 0;

			rc = conn_read(c, c->buf + c->len, c->cap - c->len - 1, &got, idle_ms,
				       deadline, err, errlen);
			if (rc == BIP_OK && got == 0) {
				bip__store_seterr(err, errlen,
						  "connection closed in the middle of a response");
				rc = BIP_EAGAIN;
			}
			c->len += got;
		}
		if (rc != BIP_OK)
			return rc;
		blen = (size_t)h.length;
	} else {
		struct bip_http_chunks ch = {0};
		size_t pos = h.len;

		for (;;) {
			size_t used = 0;
			int p = bip__http_chunks_feed(&ch, c->buf + pos, c->len - pos, &used,
						      c->buf + h.len, &blen, BIP_HTTP_BODY_MAX);

			pos += used;
			if (p == BIP_HTTP_DONE)
				break;
			if (p == BIP_HTTP_BAD) {
				bip__store_seterr(err, errlen, "malformed chunked HTTP body");
				return BIP_EIO;
			}
			/* Everything was consumed: drop the framing read so far. */
			c->len = pos = h.len + blen;
			rc = read_more(c, idle_ms, deadline, err, errlen);
			if (rc != BIP_OK)
				return rc;
		}
		end = pos;
	}
	/* Bytes after the response were never asked for: do not reuse the connection. */
	extra = c->len > end;
	c->buf[h.len + blen] = '\0';
	res->status = h.status;
	res->body = c->buf + h.len;
	res->len = blen;
	if (h.close || extra)
		bip__http_conn_close(c);
	return BIP_OK;
}

int bip__http_post(struct bip_http_conn *c, const char *hosthdr, const char *path, const char *body,
		   size_t len, int idle_ms, int64_t deadline, struct bip_http_res *res, bool *sent,
		   char *err, size_t errlen)
{
	char head[512];
	char *req = NULL;
	int n, rc = BIP_EINVAL;

	*sent = false;
	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     path, hosthdr, len);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		bip__store_seterr(err, errlen, "request line too long");
		goto out;
	}
	/* One buffer, one write: the request leaves in as few segments as possible. */
	rc = BIP_ENOMEM;
	req = malloc((size_t)n + len);
	if (!req)
		goto out;
	memcpy(req, head, (size_t)n);
	if (len)
		memcpy(req + n, body, len);
	rc = conn_write(c, req, (size_t)n + len, idle_ms, deadline, err, errlen);
	if (rc != BIP_OK)
		goto out;
	*sent = true;
	c->requests++;
	rc = read_response(c, idle_ms, deadline, res, err, errlen);
out:
	free(req);
	if (rc != BIP_OK)
		bip__http_conn_close(c);
	return rc;
}
