/*
 * TLS for the etcd client through OpenSSL 3, loaded with dlopen only when an etcds:// address
 * is opened: the plugin is exec'd once per pod, and linking libssl dynamically would cost every
 * exec (plain etcd:// and sqlite:// included) the loading of two large libraries. The static
 * plugin (BIP_STATIC_PLUGIN) links libssl.a and libcrypto.a instead: a static binary loads no
 * library at exec, and it could not dlopen one safely.
 *
 * The socket stays non-blocking; the calls here never wait: they report WANT_READ or
 * WANT_WRITE and the caller polls. Writes go through send(MSG_NOSIGNAL), so a closed peer is an
 * error and never a SIGPIPE.
 *
 * Internal to store/etcd.
 */
#ifndef BIP_STORE_ETCD_TLS_H
#define BIP_STORE_ETCD_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct bip_tls;
struct bip_tls_conn;

/* Results of the non-blocking calls besides a byte count. */
enum {
	BIP_TLS_WANT_READ = -2,
	BIP_TLS_WANT_WRITE = -3,
	BIP_TLS_EOF = -4,   /* the peer closed the connection */
	BIP_TLS_RESET = -5, /* a transport error (reset, broken pipe) */
	BIP_TLS_FAIL = -6,  /* TLS said no: certificate, alert, protocol; err says why */
};

/*
 * Load OpenSSL and make a client context: TLS 1.2 or later, the server certificate verified
 * against ca_file (NULL: the system's trust store), and, when cert_file is given, a client
 * certificate and its key_file (mutual TLS). Returns BIP_OK, BIP_EUNSUPPORTED (the dynamic
 * build: no libssl.so.3), BIP_EINVAL (unusable files: err names which and why), BIP_ENOMEM.
 */
int bip__tls_new(const char *ca_file, const char *cert_file, const char *key_file,
		 struct bip_tls **out, char *err, size_t errlen);
void bip__tls_free(struct bip_tls *t);

/* A connection over the connected socket fd; host is verified against the certificate (a DNS
 * name or an IP address) and sent as SNI when it is a name. */
int bip__tls_conn_new(struct bip_tls *t, int fd, const char *host, struct bip_tls_conn **out,
		      char *err, size_t errlen);
/* Send close_notify if possible and free; fd is not closed. NULL is fine. */
void bip__tls_conn_free(struct bip_tls_conn *c);

/* 0 when the handshake is done, else one of the BIP_TLS_ results. */
int bip__tls_handshake(struct bip_tls_conn *c, char *err, size_t errlen);
/* Bytes read or written (> 0), else one of the BIP_TLS_ results. */
ssize_t bip__tls_read(struct bip_tls_conn *c, void *buf, size_t len, char *err, size_t errlen);
ssize_t bip__tls_write(struct bip_tls_conn *c, const void *buf, size_t len, char *err,
		       size_t errlen);

#endif
