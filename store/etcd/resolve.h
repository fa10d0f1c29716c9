/*
 * An etcd endpoint's host to socket addresses. The dynamic build asks getaddrinfo (NSS: files,
 * DNS, whatever nsswitch.conf says). The static plugin (make STATIC_PLUGIN=1, compiled with
 * BIP_STATIC_PLUGIN) cannot: NSS loads shared libraries at run time, which a static binary must
 * not. It resolves without NSS instead: a numeric address (inet_pton, strict), a name of the
 * hosts file, or "localhost"; any other name is an error that says what to do.
 *
 * Internal to store/etcd.
 */
#ifndef BIP_STORE_ETCD_RESOLVE_H
#define BIP_STORE_ETCD_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#define BIP_RESOLVE_MAX 16
#define BIP_HOSTS_FILE "/etc/hosts"
#define BIP_HOSTS_MAX (1u << 20) /* a larger hosts file is refused, not read in part */

struct bip_resolved {
	size_t n;
	struct sockaddr_storage addr[BIP_RESOLVE_MAX];
	socklen_t len[BIP_RESOLVE_MAX];
};

/*
 * host (without brackets) and port (digits) to up to BIP_RESOLVE_MAX addresses, in the order
 * to try them. Returns BIP_OK (out->n >= 1), BIP_EAGAIN (the name does not resolve: try
 * another endpoint; in the static build also a name it can never resolve, as the dynamic build
 * gives for a name DNS does not know), BIP_EIO (static build: the hosts file is unreadable),
 * BIP_ENOMEM; err names the host and says why.
 */
int bip__resolve(const char *host, const char *port, struct bip_resolved *out, char *err,
		 size_t errlen);

/*
 * The resolver without NSS (what bip__resolve is in the static build), with the hosts file at
 * hosts_path: a numeric IPv4 or IPv6 address; else every address the hosts file gives name (in
 * file order); else, for "localhost", 127.0.0.1 and ::1. Returns BIP_OK, BIP_EAGAIN (none of
 * these: err says to use an address or the dynamic build), BIP_EIO (the hosts file exists but
 * cannot be read, or is over BIP_HOSTS_MAX bytes), BIP_ENOMEM.
 */
int bip__resolve_static(const char *host, const char *port, const char *hosts_path,
			struct bip_resolved *out, char *err, size_t errlen);

/*
 * The hosts file's text[0..len): append to out the address of every line that lists name
 * (ASCII case-insensitive), in order, up to BIP_RESOLVE_MAX. A line is "address name..." with
 * blanks between fields and '#' starting a comment; a line whose first field is not an
 * address (inet_pton) is skipped, as the C library skips it. port is set in every address.
 */
void bip__hosts_lookup(const char *text, size_t len, const char *name, unsigned port,
		       struct bip_resolved *out);

#endif
