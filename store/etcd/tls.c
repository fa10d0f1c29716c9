/*
 * TLS through OpenSSL 3, reached with dlopen + dlsym (tls.h says why). The headers give the
 * prototypes, so every pointer in the table has its function's exact type; nothing from
 * OpenSSL is linked. The table lives in the context, not in a global. The static plugin
 * (compiled with BIP_STATIC_PLUGIN) cannot dlopen: it links libssl.a and libcrypto.a, and the
 * same table then holds the linked functions.
 *
 * OpenSSL never touches the socket: it reads and writes a memory BIO pair, and this file moves
 * the bytes with recv() and send(MSG_NOSIGNAL). OpenSSL's socket BIO would write(), and a
 * write to a reset connection raises SIGPIPE in a process that never asked for it.
 *
 * Verification: the chain against the CA file (or the system store), and the endpoint's host
 * as written in the address against the certificate: an IP address against its IP SANs, a
 * name against its DNS SANs (and as SNI).
 */
#include <arpa/inet.h>
#ifndef BIP_STATIC_PLUGIN
#include <dlfcn.h>
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "blockipam/err.h"
#include "../store_int.h"
#include "tls.h"

/* X(function): every OpenSSL function used, looked up by name. */
#define TLS_FUNCS(X)                                                                               \
	X(TLS_client_method)                                                                       \
	X(SSL_CTX_new)                                                                             \
	X(SSL_CTX_free)                                                                            \
	X(SSL_CTX_ctrl)                                                                            \
	X(SSL_CTX_set_options)                                                                     \
	X(SSL_CTX_set_verify)                                                                      \
	X(SSL_CTX_load_verify_locations)                                                           \
	X(SSL_CTX_set_default_verify_paths)                                                        \
	X(SSL_CTX_use_certificate_chain_file)                                                      \
	X(SSL_CTX_use_PrivateKey_file)                                                             \
	X(SSL_CTX_check_private_key)                                                               \
	X(SSL_new)                                                                                 \
	X(SSL_free)                                                                                \
	X(SSL_ctrl)                                                                                \
	X(SSL_set_bio)                                                                             \
	X(SSL_set1_host)                                                                           \
	X(SSL_get0_param)                                                                          \
	X(SSL_set_connect_state)                                                                   \
	X(SSL_do_handshake)                                                                        \
	X(SSL_read)                                                                                \
	X(SSL_write)                                                                               \
	X(SSL_shutdown)                                                                            \
	X(SSL_get_error)                                                                           \
	X(SSL_get_verify_result)                                                                   \
	X(X509_verify_cert_error_string)                                                           \
	X(X509_VERIFY_PARAM_set1_ip_asc)                                                           \
	X(ERR_get_error)                                                                           \
	X(ERR_clear_error)                                                                         \
	X(ERR_reason_error_string)                                                                 \
	X(BIO_new_bio_pair)                                                                        \
	X(BIO_free)                                                                                \
	X(BIO_ctrl_pending)                                                                        \
	X(BIO_nread0)                                                                              \
	X(BIO_nread)                                                                               \
	X(BIO_nwrite0)                                                                             \
	X(BIO_nwrite)

struct ssl_api {
#define TLS_FIELD(name) __typeof__(&name) p_##name;
	TLS_FUNCS(TLS_FIELD)
#undef TLS_FIELD
};

struct bip_tls {
	void *libssl, *libcrypto;
	struct ssl_api api;
	SSL_CTX *ctx;
};

struct bip_tls_conn {
	const struct ssl_api *api;
	SSL *ssl;
	BIO *net; /* our end of the pair: ciphertext to send, and received */
	int fd;
	int wdone; /* bytes SSL_write took whose records are not all sent yet */
};

/* The reason of the oldest queued OpenSSL error (the queue is emptied). */
static const char *ssl_reason(const struct ssl_api *a)
{
	unsigned long e = a->p_ERR_get_error(), next;
	const char *r;

	while ((next = a->p_ERR_get_error()) != 0)
		(void)next;
	r = e ? a->p_ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown TLS error";
}

/* --- moving ciphertext between the BIO pair and the socket ---------------------------- */

/* Send what OpenSSL has written: 0 when all is sent, else WANT_WRITE or RESET. */
static int flush(struct bip_tls_conn *c, char *err, size_t errlen)
{
	const struct ssl_api *a = c->api;

	while (a->p_BIO_ctrl_pending(c->net) > 0) {
		char *p;
		int n = a->p_BIO_nread0(c->net, &p);
		ssize_t s;

		if (n <= 0)
			break;
		s = send(c->fd, p, (size_t)n, MSG_NOSIGNAL);
		if (s < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return BIP_TLS_WANT_WRITE;
			bip__store_seterr(err, errlen, "write: %s", strerror(errno));
			return BIP_TLS_RESET;
		}
		a->p_BIO_nread(c->net, &p, (int)s);
	}
	return 0;
}

/* Receive into the pair: 0 when bytes arrived, else WANT_READ, EOF or RESET. */
static int fill(struct bip_tls_conn *c, char *err, size_t errlen)
{
	const struct ssl_api *a = c->api;
	char *p;
	int n = a->p_BIO_nwrite0(c->net, &p);
	ssize_t r;

	if (n <= 0) {
		bip__store_seterr(err, errlen, "TLS: receive buffer full");
		return BIP_TLS_FAIL;
	}
	do
		r = recv(c->fd, p, (size_t)n, 0);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		a->p_BIO_nwrite(c->net, &p, (int)r);
		return 0;
	}
	if (r == 0)
		return BIP_TLS_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return BIP_TLS_WANT_READ;
	bip__store_seterr(err, errlen, "read: %s", strerror(errno));
	return BIP_TLS_RESET;
}

/*
 * After an SSL call returned r <= 0: move bytes as it asks (0: retry the call), or say why it
 * cannot go on. what names the step in messages.
 */
static int pump(struct bip_tls_conn *c, int r, const char *what, char *err, size_t errlen)
{
	const struct ssl_api *a = c->api;
	int e = a->p_SSL_get_error(c->ssl, r), f;
	long v;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		/* What we owe the server goes first: it may be what it waits for. */
		f = flush(c, err, errlen);
		return f ? f : fill(c, err, errlen);
	case SSL_ERROR_WANT_WRITE:
		return flush(c, err, errlen);
	case SSL_ERROR_ZERO_RETURN:
		return BIP_TLS_EOF;
	default:
		break;
	}
	v = a->p_SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK) {
		bip__store_seterr(err, errlen, "TLS %s: the server certificate is not accepted: %s",
				  what, a->p_X509_verify_cert_error_string(v));
		a->p_ERR_clear_error();
	} else {
		const char *why = ssl_reason(a);

		/* An alert is the server's verdict; one about a certificate is about ours. */
		if (strstr(why, "alert") && strstr(why, "certificate"))
			bip__store_seterr(
			    err, errlen,
			    "the server refused the client certificate (%s): check cert_file, "
			    "key_file, and that etcd trusts their CA",
			    why);
		else
			bip__store_seterr(err, errlen, "TLS %s failed: %s", what, why);
	}
	return BIP_TLS_FAIL;
}

int bip__tls_handshake(struct bip_tls_conn *c, char *err, size_t errlen)
{
	const struct ssl_api *a = c->api;

	for (;;) {
		int r, p;

		a->p_ERR_clear_error();
		r = a->p_SSL_do_handshake(c->ssl);
		if (r == 1)
			return flush(c, err, errlen);
		p = pump(c, r, "handshake", err, errlen);
		if (p)
			return p;
	}
}

ssize_t bip__tls_read(struct bip_tls_conn *c, void *buf, size_t len, char *err, size_t errlen)
{
	const struct ssl_api *a = c->api;
	int f = flush(c, err, errlen);

	if (f)
		return f;
	for (;;) {
		int r, p;

		a->p_ERR_clear_error();
		r = a->p_SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		if (r > 0)
			return r;
		p = pump(c, r, "read", err, errlen);
		if (p)
			return p;
	}
}

ssize_t bip__tls_write(struct bip_tls_conn *c, const void *buf, size_t len, char *err,
		       size_t errlen)
{
	const struct ssl_api *a = c->api;
	int f, r;

	while (!c->wdone) {
		int p;

		a->p_ERR_clear_error();
		r = a->p_SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		if (r > 0) {
			c->wdone = r;
			break;
		}
		p = pump(c, r, "write", err, errlen);
		if (p)
			return p;
	}
	/* The bytes count as written only once their records are on the wire. */
	f = flush(c, err, errlen);
	if (f)
		return f;
	r = c->wdone;
	c->wdone = 0;
	return r;
}

/* --- connections and contexts --------------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int bip__tls_conn_new(struct bip_tls *t, int fd, const char *host, struct bip_tls_conn **out,
		      char *err, size_t errlen)
{
	const struct ssl_api *a = &t->api;
	struct bip_tls_conn *c = calloc(1, sizeof(*c));
	BIO *inner = NULL;
	int rc = BIP_ENOMEM;

	if (!c)
		goto out;
	c->api = a;
	c->fd = fd;
	c->ssl = a->p_SSL_new(t->ctx);
	if (!c->ssl || a->p_BIO_new_bio_pair(&inner, 0, &c->net, 0) != 1)
		goto out;
	a->p_SSL_set_bio(c->ssl, inner, inner);
	rc = BIP_EINVAL;
	if (is_ip_literal(host)) {
		if (a->p_X509_VERIFY_PARAM_set1_ip_asc(a->p_SSL_get0_param(c->ssl), host) != 1)
			goto out;
	} else if (a->p_SSL_set1_host(c->ssl, host) != 1 ||
		   a->p_SSL_ctrl(c->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
				 (void *)host) != 1) {
		goto out;
	}
	a->p_SSL_set_connect_state(c->ssl);
	rc = BIP_OK;
out:
	if (rc == BIP_EINVAL)
		bip__store_seterr(err, errlen, "TLS: cannot verify against host '%s': %s", host,
				  ssl_reason(a));
	if (rc != BIP_OK) {
		bip__tls_conn_free(c);
		c = NULL;
	}
	*out = c;
	return rc;
}

void bip__tls_conn_free(struct bip_tls_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* close_notify, if the socket takes it right away; never waits. */
		if (c->net && c->api->p_SSL_shutdown(c->ssl) >= 0)
			flush(c, NULL, 0);
		c->api->p_ERR_clear_error();
		c->api->p_SSL_free(c->ssl);
	}
	if (c->net)
		c->api->p_BIO_free(c->net);
	free(c);
}

#ifdef BIP_STATIC_PLUGIN
static int load(struct bip_tls *t, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
#define TLS_LINK(name) t->api.p_##name = &name;
	TLS_FUNCS(TLS_LINK)
#undef TLS_LINK
	return BIP_OK;
}
#else
static int load(struct bip_tls *t, char *err, size_t errlen)
{
	/* libcrypto first: libssl needs it, and a missing one is named plainly. */
	t->libcrypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	t->libssl = t->libcrypto ? dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL) : NULL;
	if (!t->libssl) {
		bip__store_seterr(err, errlen,
				  "etcds:// needs OpenSSL 3 (libssl.so.3, libcrypto.so.3): %s",
				  dlerror());
		return BIP_EUNSUPPORTED;
	}
#define TLS_LOAD(name)                                                                             \
	*(void **)&t->api.p_##name = dlsym(t->libssl, #name);                                      \
	if (!t->api.p_##name) {                                                                    \
		bip__store_seterr(err, errlen, "etcds://: OpenSSL lacks %s", #name);               \
		return BIP_EUNSUPPORTED;                                                           \
	}
	TLS_FUNCS(TLS_LOAD)
#undef TLS_LOAD
	return BIP_OK;
}
#endif

int bip__tls_new(const char *ca_file, const char *cert_file, const char *key_file,
		 struct bip_tls **out, char *err, size_t errlen)
{
	struct bip_tls *t = calloc(1, sizeof(*t));
	const struct ssl_api *a = &t->api;
	int rc = BIP_ENOMEM;

	*out = NULL;
	if (!t)
		return BIP_ENOMEM;
	rc = load(t, err, errlen);
	if (rc != BIP_OK)
		goto out;
	rc = BIP_ENOMEM;
	t->ctx = a->p_SSL_CTX_new(a->p_TLS_client_method());
	if (!t->ctx)
		goto out;
	rc = BIP_EINVAL;
	a->p_SSL_CTX_ctrl(t->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
	a->p_SSL_CTX_ctrl(t->ctx, SSL_CTRL_MODE,
			  SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
			  NULL);
	/* A server that drops the connection without close_notify is EOF, not an error. */
	a->p_SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	a->p_SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file) {
		if (a->p_SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
			bip__store_seterr(err, errlen, "cannot load the CA file '%s': %s", ca_file,
					  ssl_reason(a));
			goto out;
		}
	} else if (a->p_SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		bip__store_seterr(err, errlen, "cannot load the system's CA certificates: %s",
				  ssl_reason(a));
		goto out;
	}
	if (cert_file) {
		if (a->p_SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1) {
			bip__store_seterr(err, errlen,
					  "cannot load the client certificate '%s': %s", cert_file,
					  ssl_reason(a));
			goto out;
		}
		if (a->p_SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
			bip__store_seterr(err, errlen, "cannot load the client key '%s': %s",
					  key_file, ssl_reason(a));
			goto out;
		}
		if (a->p_SSL_CTX_check_private_key(t->ctx) != 1) {
			bip__store_seterr(err, errlen,
					  "the client key '%s' does not match the certificate '%s'",
					  key_file, cert_file);
			goto out;
		}
	}
	rc = BIP_OK;
out:
	if (rc != BIP_OK) {
		bip__tls_free(t);
		return rc;
	}
	*out = t;
	return BIP_OK;
}

void bip__tls_free(struct bip_tls *t)
{
	if (!t)
		return;
	if (t->ctx)
		t->api.p_SSL_CTX_free(t->ctx);
#ifndef BIP_STATIC_PLUGIN
	/* OpenSSL pins itself in memory (it registers an exit handler): dlclose only drops our
	 * references. */
	if (t->libssl)
		dlclose(t->libssl);
	if (t->libcrypto)
		dlclose(t->libcrypto);
#endif
	free(t);
}
