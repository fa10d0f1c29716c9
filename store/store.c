/*
 * Store addresses and the helpers shared by every backend. An address names the backend:
 *
 *   sqlite:///var/lib/blockipam/ipam.db   (or a bare absolute path)
 *   etcd://127.0.0.1:2379[,host[:port]...]  etcds://... for TLS
 *
 * The same syntax serves the plugin config ("store"), the CLI (--store) and BLOCKIPAM_STORE,
 * and it is parsed in one place: bip_store_addr_check (etcd's endpoint list in store/etcd).
 * This file is the registry alone (the scheme table, the address check, bip_store_open): the
 * helpers the backends share are store/kv.c, so the backends depend on kv.c and this file on
 * them, never the other way round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "store_int.h"

const char *bip_store_addr_default(const char *explicit_addr, const char *env_addr)
{
	if (explicit_addr && *explicit_addr)
		return explicit_addr;
	if (env_addr && *env_addr)
		return env_addr;
	return BIP_STORE_DEFAULT;
}

enum backend { SQLITE, ETCD, ETCDS };

/* The schemes, by prefix; a bare absolute path ("" below, checked apart) is sqlite's. */
static const struct scheme {
	const char *prefix;
	enum backend backend;
} schemes[] = {
    {"sqlite://", SQLITE},
    {"etcd://", ETCD},
    {"etcds://", ETCDS},
};

/* The scheme of addr and the rest after its prefix, or NULL for an unknown scheme. */
static const struct scheme *scheme_of(const char *addr, const char **rest)
{
	static const struct scheme bare = {"", SQLITE};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].prefix);

		if (strncmp(addr, schemes[i].prefix, n) == 0) {
			*rest = addr + n;
			return &schemes[i];
		}
	}
	*rest = addr;
	return addr[0] == '/' ? &bare : NULL;
}

static int sqlite_path_check(const char *addr, const char *path, char *err, size_t errlen)
{
	size_t n = strlen(path);

	if (path[0] != '/') {
		bip__store_seterr(err, errlen,
				  "store address '%s': the sqlite path must be absolute "
				  "(sqlite:///path/to/file.db)",
				  addr);
		return BIP_EINVAL;
	}
	if (n < 2 || path[n - 1] == '/') {
		bip__store_seterr(err, errlen,
				  "store address '%s': '%s' names a directory; want "
				  "sqlite:///absolute/path/to/file.db",
				  addr, path);
		return BIP_EINVAL;
	}
	for (const char *p = path; *p; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			bip__store_seterr(err, errlen,
					  "store address '%s': control character in path", addr);
			return BIP_EINVAL;
		}
	}
	return BIP_OK;
}

int bip_store_addr_check(const char *addr, char *err, size_t errlen)
{
	const struct scheme *sc;
	const char *rest;
	char why[400];

	if (!addr || !*addr) {
		bip__store_seterr(err, errlen, "empty store address");
		return BIP_EINVAL;
	}
	sc = scheme_of(addr, &rest);
	if (sc && sc->backend == SQLITE)
		return sqlite_path_check(addr, rest, err, errlen);
	if (sc) {
		if (bip_etcd_addr_check(rest, why, sizeof(why)) != BIP_OK) {
			bip__store_seterr(err, errlen, "store address '%s': %s", addr, why);
			return BIP_EINVAL;
		}
		return BIP_OK;
	}
	if (!strstr(addr, "://"))
		bip__store_seterr(
		    err, errlen,
		    "store address '%s': a path must be absolute (sqlite:///path/to/file.db), "
		    "or etcd://host[:port]",
		    addr);
	else
		bip__store_seterr(
		    err, errlen,
		    "store address '%s': unknown scheme (want sqlite:///path, etcd://host[:port] "
		    "or etcds://host[:port])",
		    addr);
	return BIP_EINVAL;
}

int bip_store_open(const char *addr, const struct bip_store_opts *opts, struct bip_store **out,
		   char *err, size_t errlen)
{
	static const struct bip_store_opts none;
	const struct scheme *sc;
	const char *rest;
	char why[512];

	if (!opts)
		opts = &none;
	*out = NULL;
	if (bip_store_addr_check(addr, why, sizeof(why)) != BIP_OK) {
		bip__store_seterr(err, errlen, "%s%s", addr && *addr ? "invalid " : "", why);
		return BIP_EINVAL;
	}
	sc = scheme_of(addr, &rest);
	if (sc->backend == SQLITE)
		return bip_sqlite_open(rest, opts, out, err, errlen);
	return bip_etcd_open(rest, sc->backend == ETCDS, opts, out, err, errlen);
}
