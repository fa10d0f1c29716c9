/*
 * Store addresses and the helpers shared by every backend. An address names the backend:
 *
 *   sqlite:///var/lib/blockipam/ipam.db   (or a bare absolute path)
 *   etcd://127.0.0.1:2379[,host:port...]  etcds://... for TLS
 *
 * The same syntax serves the plugin config ("store"), the CLI (--store) and BLOCKIPAM_STORE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/store.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *bip_store_addr_default(const char *explicit_addr)
{
	const char *env;

	if (explicit_addr && *explicit_addr)
		return explicit_addr;
	env = getenv("BLOCKIPAM_STORE");
	if (env && *env)
		return env;
	return BIP_STORE_DEFAULT;
}

int bip_store_open(const char *addr, const struct bip_store_opts *opts, struct bip_store **out,
		   char *err, size_t errlen)
{
	static const struct bip_store_opts none;

	if (!opts)
		opts = &none;
	if (!addr || !*addr) {
		seterr(err, errlen, "empty store address");
		return BIP_EINVAL;
	}
	if (strncmp(addr, "sqlite://", 9) == 0) {
		const char *path = addr + 9;

		if (*path != '/') {
			seterr(err, errlen,
			       "invalid store address '%s': the sqlite path must be absolute "
			       "(sqlite:///path/to/file.db)",
			       addr);
			return BIP_EINVAL;
		}
		return bip_sqlite_open(path, opts, out, err, errlen);
	}
	if (addr[0] == '/')
		return bip_sqlite_open(addr, opts, out, err, errlen);
	if (strncmp(addr, "etcd://", 7) == 0)
		return bip_etcd_open(addr + 7, false, opts, out, err, errlen);
	if (strncmp(addr, "etcds://", 8) == 0)
		return bip_etcd_open(addr + 8, true, opts, out, err, errlen);
	seterr(err, errlen,
	       "invalid store address '%s': unknown scheme (want sqlite:///path, etcd://host:port "
	       "or etcds://host:port)",
	       addr);
	return BIP_EINVAL;
}

void bip_store_close(struct bip_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *bip_store_errmsg(struct bip_store *s)
{
	const char *m = s && s->ops->errmsg ? s->ops->errmsg(s) : NULL;

	return m ? m : "";
}

void bip_kv_clear(struct bip_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	kv->key = NULL;
	kv->value = NULL;
	kv->len = 0;
	kv->rev = 0;
}

int bip_kv_copy(struct bip_kv *dst, const struct bip_kv *src)
{
	struct bip_kv kv = {.len = src->len, .rev = src->rev};

	kv.key = strdup(src->key);
	kv.value = malloc(src->len + 1);
	if (!kv.key || !kv.value) {
		bip_kv_clear(&kv);
		return BIP_ENOMEM;
	}
	if (src->len)
		memcpy(kv.value, src->value, src->len);
	kv.value[src->len] = '\0';
	*dst = kv;
	return BIP_OK;
}

void bip_kvs_free(struct bip_kvs *kvs)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < kvs->n; i++)
		bip_kv_clear(&kvs->v[i]);
	free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}

struct collect {
	struct bip_kvs *out;
	size_t cap;
};

static int collect_one(void *ctx, const struct bip_kv *kv)
{
	struct collect *c = ctx;

	if (c->out->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct bip_kv *v = realloc(c->out->v, cap * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		c->out->v = v;
		c->cap = cap;
	}
	if (bip_kv_copy(&c->out->v[c->out->n], kv) != BIP_OK)
		return BIP_ENOMEM;
	c->out->n++;
	return BIP_OK;
}

int bip_store_list(struct bip_store *s, const char *prefix, unsigned flags, struct bip_kvs *out)
{
	struct bip_kvs kvs = {0};
	struct collect c = {.out = &kvs};
	int rc = s->ops->list(s, prefix, flags, collect_one, &c, &kvs.rev);

	if (rc != BIP_OK) {
		bip_kvs_free(&kvs);
		return rc;
	}
	*out = kvs;
	return BIP_OK;
}
