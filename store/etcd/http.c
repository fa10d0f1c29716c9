/*
 * The etcd client's connection: connect (TLS through tls.c when asked), one POST and its
 * response at a time over a kept-alive socket (http.h says what it accepts; http_parse.c and
 * http_chunks.c parse). Bodies are decoded in place in the connection's buffer: a chunked body
 * is compacted as it arrives, so the buffer never holds much more than the decoded body.
 *
 * Every wait is a poll() bounded by two limits: the caller's deadline for the whole operation,
 * and an idle limit on a silent server (etcd hangs, rather than fails, during an election).
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blockipam/err.h"
#include "../store_int.h"
#include "http.h"
#include "resolve.h"
#include "tls.h"

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

static int connect_one(const struct sockaddr_storage *sa, socklen_t salen, int64_t deadline,
		       int *fdp)
{
	int one = 1, soerr = 0, rc;
	socklen_t sl = sizeof(soerr);
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

	if (fd < 0)
		return errno;
	/* The request is one write; do not let Nagle hold it behind a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
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
	struct bip_resolved addrs;
	int fd = -1, e = 0, rc;

	bip__http_conn_close(c);
	rc = bip__resolve(host, port, &addrs, err, errlen);
	if (rc != BIP_OK)
		return rc == BIP_EIO ? BIP_EAGAIN : rc;
	for (size_t i = 0; i < addrs.n && fd < 0; i++)
		e = connect_one(&addrs.addr[i], addrs.len[i], deadline, &fd);
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
