/*
 * A narrow HTTP/1.1 client for one JSON API (etcd's v3 gateway): POST with a Content-Length
 * body, responses framed by Content-Length or chunked transfer coding, keep-alive reuse of one
 * connection, and poll-based deadlines on every wait. Nothing else: no redirects, no proxies, no
 * 1xx responses, no bodies delimited by connection close, no pipelining.
 *
 * The parsing is split into pure functions over byte buffers (the head parser and the chunked
 * decoder) so that tests and the fuzzer drive exactly the code the network path runs.
 * bip__http_parse_response() puts them together over one complete buffer.
 *
 * Internal to store/etcd.
 */
#ifndef BIP_STORE_ETCD_HTTP_H
#define BIP_STORE_ETCD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIP_HTTP_HEAD_MAX (16u << 10) /* status line + headers, and again for trailers */
#define BIP_HTTP_BODY_MAX (64u << 20)

/* Parser results. */
enum { BIP_HTTP_BAD = -1, BIP_HTTP_MORE = 0, BIP_HTTP_DONE = 1 };

struct bip_http_head {
	int status;	 /* 200..599 */
	bool close;	 /* the server closes after this response */
	bool chunked;	 /* Transfer-Encoding: chunked */
	uint64_t length; /* Content-Length (0 when chunked or for 204/304) */
	size_t len;	 /* bytes of the head, final CRLF included */
};

/*
 * Parse a response head from the start of buf. DONE: *out is filled. MORE: no verdict yet (buf
 * holds a valid beginning). BAD: not a response this client accepts (malformed, bare LF,
 * folded or unframed headers, Content-Length and Transfer-Encoding together, conflicting
 * lengths, a body above BIP_HTTP_BODY_MAX, a head above BIP_HTTP_HEAD_MAX, 1xx).
 */
int bip__http_parse_head(const char *buf, size_t len, struct bip_http_head *out);

/* The chunked decoder: start zeroed. */
struct bip_http_chunks {
	int state;
	uint64_t left; /* data bytes left in this chunk, or the chunk size being read */
	size_t line;   /* bytes of the current size or trailer line */
	size_t trailers;
	unsigned digits;
};

/*
 * Decode chunked body bytes in[0..len): data are appended to out at *outlen (out may alias the
 * input at or before in: the decoded data never overtake the input). *used is the number of
 * input bytes consumed. DONE: the last chunk and the trailers are complete (bytes after them
 * are not consumed). MORE: every input byte was consumed. BAD: malformed, or more than max
 * data bytes.
 */
int bip__http_chunks_feed(struct bip_http_chunks *c, const char *in, size_t len, size_t *used,
			  char *out, size_t *outlen, size_t max);

struct bip_http_resp {
	int status;
	bool close;
	char *body; /* owned, NUL-terminated; len excludes the NUL */
	size_t len;
};

/*
 * Parse one complete response at the start of buf. DONE: *out is filled (free it with
 * bip__http_resp_clear) and *consumed is its length. MORE / BAD: nothing is written.
 * A failed allocation is BAD.
 */
int bip__http_parse_response(const char *buf, size_t len, struct bip_http_resp *out,
			     size_t *consumed);
void bip__http_resp_clear(struct bip_http_resp *r);

/* --- the connection ------------------------------------------------------------------- */

struct bip_tls;
struct bip_tls_conn;

struct bip_http_conn {
	int fd; /* -1 when closed */
	struct bip_tls_conn *tls;
	char *buf; /* received bytes; holds the last response's body */
	size_t len, cap;
	uint64_t requests, connects; /* counters for tests and benchmarks */
};

/* A response: body points into the connection's buffer, valid until the next call. */
struct bip_http_res {
	int status;
	const char *body; /* NUL-terminated */
	size_t len;
};

/* Milliseconds on the monotonic clock. */
int64_t bip__http_now_ms(void);

void bip__http_conn_init(struct bip_http_conn *c);
bool bip__http_conn_open(const struct bip_http_conn *c);
/* Connected, and the server has not closed or written anything since the last response. */
bool bip__http_conn_alive(struct bip_http_conn *c);
void bip__http_conn_close(struct bip_http_conn *c);
/* Close and free the buffer. */
void bip__http_conn_free(struct bip_http_conn *c);

/*
 * Connect to host:port (bip__resolve, resolve.h; every address in turn) by a non-blocking
 * connect, then, with tls, a TLS handshake verifying the server certificate against host. Waits
 * until deadline (bip__http_now_ms() scale). Returns BIP_OK, BIP_EAGAIN (refused, unreachable,
 * timed out, the name does not resolve (now): try another endpoint), BIP_EPERM (TLS:
 * certificate or handshake rejected), BIP_EINVAL (TLS cannot verify against this host),
 * BIP_ENOMEM; err says why.
 */
int bip__http_connect(struct bip_http_conn *c, const char *host, const char *port,
		      struct bip_tls *tls, int64_t deadline, char *err, size_t errlen);

/*
 * POST body to path on an open connection and read the response; a wait for the server longer
 * than idle_ms, or past deadline, is a timeout. *sent tells whether the whole request may have
 * reached the server (false: it certainly was not processed). Returns BIP_OK (*res filled; any
 * status), BIP_ETIMEDOUT, BIP_EAGAIN (connection closed or reset), BIP_EIO (malformed
 * response), BIP_EPERM (TLS alert, e.g. the client certificate was refused), BIP_ENOMEM. On
 * anything but BIP_OK, and after a response that ends the connection, the connection is closed.
 */
int bip__http_post(struct bip_http_conn *c, const char *hosthdr, const char *path, const char *body,
		   size_t len, int idle_ms, int64_t deadline, struct bip_http_res *res, bool *sent,
		   char *err, size_t errlen);

#endif
