/*
 * cnibench's stores: fresh blockipam SQLite stores with the bench pool, filled through the
 * library the way the plugin allocates, and host-local's dataDir filled in its own on-disk
 * format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnibench.h"
#include "../../tests/util.h"

char *mkdir_tmp(const struct bench *b, const char *what)
{
	return mkdir_in(b->tmp, what);
}

struct bip_store *open_store(const char *addr, const char *prefix)
{
	struct bip_store_opts opts = {.prefix = prefix};
	struct bip_store *s = NULL;
	char err[512] = "";
	int rc = bip_store_open(addr, &opts, &s, err, sizeof(err));

	if (rc != BIP_OK) {
		note("open %s: %s (%s)", addr, err, bip_errname(rc));
		return NULL;
	}
	return s;
}

/* A fresh SQLite store in a new directory under base with the pool POOL_CIDR (/26 blocks). */
char *new_bip_store_in(const char *base, const char *what, char **dir)
{
	struct bip_store *s;
	struct bip_ipam *ip = NULL;
	char *d = mkdir_in(base, what), *addr = xasprintf("sqlite://%s/ipam.db", d);
	int rc;

	s = open_store(addr, NULL);
	if (!s || bip_ipam_new(s, &ip) != BIP_OK)
		exit(1);
	rc = t_pool(ip, "default", POOL_CIDR, 26, NULL);
	bip_ipam_free(ip);
	bip_store_close(s);
	if (rc != BIP_OK)
		exit(1);
	*dir = d;
	return addr;
}

char *new_bip_store(const struct bench *b, const char *what, char **dir)
{
	return new_bip_store_in(b->tmp, what, dir);
}

/*
 * One allocation the way the plugin makes it: handle "<network>.<cid>.eth0" and its attrs; with
 * want, that specific address (as for a pod whose runtime asks for an IP), else the next free.
 */
int lib_alloc(struct bip_ipam *ip, const char *node, unsigned tag, size_t seq,
	      const struct bip_addr *want)
{
	char cid[72], handle[160], pod[48];
	struct bip_alloc_req req = {.handle = handle,
				    .node = node,
				    .num4 = 1,
				    .namespace = "default",
				    .use = BIP_USE_WORKLOAD,
				    .ips = want,
				    .nips = want ? 1 : 0};
	struct bip_alloc_result res = {0};
	int rc;

	cid_of(cid, sizeof(cid), tag, seq);
	snprintf(handle, sizeof(handle), NETWORK ".%s.eth0", cid);
	snprintf(pod, sizeof(pod), "pod-%x-%zu", tag, seq);
	req.attrs = (struct bip_attrs){"default", pod, cid, "eth0"};
	rc = bip_ipam_allocate(ip, &req, &res);
	if (rc != BIP_OK)
		note("library allocation %zu on %s: %s: %s", seq, node, bip_errname(rc),
		     bip_ipam_errmsg(ip));
	bip_alloc_result_free(&res);
	return rc;
}

/*
 * Grow the store at addr (prefix for etcd) to hold `to` allocations on node (from `from`).
 *
 * Each is a real library allocation for FILL_BASE + k on that node: the engine reads the one
 * block holding the address, creates it affine to the node when absent, and writes the block,
 * the affinity and the handle record, exactly the records a dynamic allocation writes. Dynamic
 * allocation is not used for the fill because it walks every block the node owns (O(blocks of
 * the node) per allocation): one node with 50,000 addresses owns 782 /26 blocks, and such a
 * fill ran at ~35 allocations/s here. The filled blocks (10.1.x.x) sort before the node's own
 * dynamic block (10.33.160.0/26 for NODE; checked), so every exec'd ADD walks every full block
 * first, as after a dynamic fill.
 */
int lib_prefill(const char *addr, const char *prefix, const char *node, unsigned tag, size_t from,
		size_t to, double *secs)
{
	struct bip_addr base = t_addr(FILL_BASE);
	struct bip_store *s = open_store(addr, prefix);
	struct bip_ipam *ip = NULL;
	double t0 = now_s();
	int rc = BIP_EIO;

	if (!s || bip_ipam_new(s, &ip) != BIP_OK)
		goto out;
	rc = BIP_OK;
	for (size_t k = from; k < to && rc == BIP_OK; k++) {
		struct bip_addr want = bip_addr_add(base, (bip_u128)k);

		rc = lib_alloc(ip, node, tag, k, &want);
	}
out:
	bip_ipam_free(ip);
	bip_store_close(s); /* the last connection: checkpoints, as after any plugin exec */
	*secs = now_s() - t0;
	return rc;
}

/* Delete every key under prefix (a shared etcd keeps nothing of the run). */
void purge_prefix(const char *addr, const char *prefix)
{
	struct bip_store *s = open_store(addr, prefix);
	struct bip_kvs kvs = {0};
	struct bip_op ops[64];
	size_t n = 0;

	if (!s)
		return;
	if (bip_store_list(s, "", BIP_LIST_KEYS_ONLY, &kvs) == BIP_OK) {
		for (size_t i = 0; i < kvs.n; i++) {
			ops[n++] = (struct bip_op){BIP_OP_DEL, kvs.v[i].key, NULL, 0};
			if (n == 64 || i + 1 == kvs.n) {
				if (bip_store_txn(s, NULL, 0, ops, n, NULL) != BIP_OK)
					note("could not delete the keys under %s%s", addr, prefix);
				n = 0;
			}
		}
		note("row 6: deleted %zu keys under %s", kvs.n, prefix);
	}
	bip_kvs_free(&kvs);
	bip_store_close(s);
}

/* Every block NODE claimed dynamically sorts after the filled ones (FILL_BASE's /16). */
bool dynamic_blocks_sort_last(const char *addr)
{
	struct bip_store *s = open_store(addr, NULL);
	struct bip_kvs kvs = {0};
	const char *fill = "affinity/" NODE "/10.1.";
	bool ok = false;

	if (s && bip_store_list(s, "affinity/" NODE "/", BIP_LIST_KEYS_ONLY, &kvs) == BIP_OK) {
		ok = kvs.n > 0;
		for (size_t i = 0; i < kvs.n; i++)
			ok = ok && strcmp(kvs.v[i].key, fill) > 0 &&
			     strncmp(kvs.v[i].key, fill, strlen(fill)) != 0;
	}
	if (!ok)
		note("row 2: warning: node %s's own blocks do not all sort after %s", NODE, fill);
	bip_kvs_free(&kvs);
	bip_store_close(s);
	return ok;
}

/* ---- host-local's on-disk format ---------------------------------------------------------------
 */

/* host-local's store for network NETWORK: one file per IP, 10.88.0.2 upwards. */
int hl_prefill(const char *datadir, size_t from, size_t to, double *secs)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], ip[32], cid[72], body[128];
	uint32_t base = (10u << 24) | (88u << 16) | 2u;
	double t0 = now_s();
	int fd;

	snprintf(dir, sizeof(dir), "%s/" NETWORK, datadir);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return -1;
	ip[0] = '\0';
	for (size_t k = from; k < to; k++) {
		uint32_t a = base + (uint32_t)k;
		int n;

		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			 a & 255);
		snprintf(path, sizeof(path), "%s/%s", dir, ip);
		cid_of(cid, sizeof(cid), 0x9f, k);
		n = snprintf(body, sizeof(body), "%s\r\neth0", cid);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, body, (size_t)n) != n) {
			note("prefill %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	if (ip[0]) {
		snprintf(path, sizeof(path), "%s/last_reserved_ip.0", dir);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, ip, strlen(ip)) != (ssize_t)strlen(ip)) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	*secs = now_s() - t0;
	return 0;
}
