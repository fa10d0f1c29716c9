#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

char *t_tmpdir(void)
{
	char tmpl[] = "/tmp/bip-test.XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void t_rmdir(char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

struct bip_store *t_store(const char *dir, char *addr, size_t addrlen)
{
	char a[4096], err[512];
	struct bip_store *s = NULL;

	snprintf(a, sizeof(a), "sqlite://%s/ipam.db", dir);
	if (addr)
		snprintf(addr, addrlen, "%s", a);
	if (bip_store_open(a, NULL, &s, err, sizeof(err)) != BIP_OK) {
		fprintf(stderr, "cannot open %s: %s\n", a, err);
		return NULL;
	}
	return s;
}

char *t_dump(struct bip_store *s)
{
	struct bip_kvs kvs = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (bip_store_list(s, "", 0, &kvs) != BIP_OK)
		return strdup("(list failed)");
	f = open_memstream(&buf, &len);
	for (size_t i = 0; i < kvs.n; i++)
		fprintf(f, "%s=%s@%lld\n", kvs.v[i].key, (char *)kvs.v[i].value,
			(long long)kvs.v[i].rev);
	fclose(f);
	bip_kvs_free(&kvs);
	return buf;
}

int t_put(struct bip_store *s, const char *key, const char *value)
{
	struct bip_op op = {BIP_OP_PUT, key, value, strlen(value)};

	return bip_store_txn(s, NULL, 0, &op, 1, NULL);
}

int t_del(struct bip_store *s, const char *key)
{
	struct bip_op op = {BIP_OP_DEL, key, NULL, 0};

	return bip_store_txn(s, NULL, 0, &op, 1, NULL);
}

struct bip_addr t_addr(const char *s)
{
	struct bip_addr a = {0};

	if (bip_addr_parse(s, &a) != BIP_OK)
		fprintf(stderr, "t_addr: bad address '%s'\n", s);
	return a;
}

struct bip_prefix t_prefix(const char *s)
{
	struct bip_prefix p = {0};

	if (bip_prefix_parse_ex(s, false, true, &p) != BIP_OK)
		fprintf(stderr, "t_prefix: bad prefix '%s'\n", s);
	return p;
}

int t_pool(struct bip_ipam *ip, const char *name, const char *cidr, unsigned block_len,
	   const char *node_selector)
{
	struct bip_pool p = {0};
	int rc;

	p.name = (char *)name;
	p.cidr = t_prefix(cidr);
	p.block_len = block_len;
	p.node_selector = (char *)node_selector;
	rc = bip_ipam_pool_put(ip, &p, true);
	if (rc != BIP_OK)
		fprintf(stderr, "t_pool %s %s: %s: %s\n", name, cidr, bip_errname(rc),
			bip_ipam_errmsg(ip));
	return rc;
}
