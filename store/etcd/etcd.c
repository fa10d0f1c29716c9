/*
 * The etcd v3 backend: the store interface over etcd's JSON gateway (/v3/kv/range, /v3/kv/txn),
 * through one kept-alive HTTP/1.1 connection (http.c), TLS when the address is etcds:// (tls.c).
 * This file opens and closes the store and holds its ops table and the node lock; the rest is
 * one job a file:
 *
 *   endpoint.c   the endpoint list of the address (one grammar for the check and the open)
 *   call.c       one request with fail-over between endpoints, retries and the time budget
 *   read.c       get, list, read: ranges, each one snapshot
 *   txn.c        the compare-and-write txn
 *   codec.c      the gateway's JSON messages;  http.c, tls.c  the transport
 *
 * bip_store_errmsg() tells what happened last, in words.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "etcd.h"
#include "etcd_int.h"
#include "../lock.h"
#include "../store_int.h"
#include "http.h"
#include "tls.h"

#define PREFIX_MAX 512

static const char *etcd_errmsg(struct bip_store *s)
{
	return bip__to_etcd(s)->errmsg;
}

/*
 * The node lock. Every plugin process of a node allocates from the node's own blocks, so with
 * etcd they all meet on one block record: 32 at once on one node lost races up to 64 times in
 * a row (make bench, 3 members: 17 of 2,000 ADDs gave up with "try again", p99 4.15 s). The
 * processes of one machine queue on an flock instead, as Calico's plugin does on its host-wide
 * IPAM lock, and hand over in the kernel's order. Other machines never see it, and correctness
 * never depends on it: the txn compares still decide. The file is
 * LOCK_DIR/etcd-<FNV-1a of endpoints, prefix and node>.lock (0600 in a 0700 directory): one per
 * node (opts->node) of a cluster and prefix, so nodes simulated on one machine (the tests) still
 * race each other through etcd as real ones do; where it cannot be made (no /run, not root)
 * there is no lock.
 *
 * The wait is bounded by the budget of one store call (opts->timeout_ms), like the SQLite writer
 * lock: a frozen holder (SIGSTOP, the cgroup freezer) keeps the lock while it is frozen, and the
 * other processes of its node then answer BIP_EAGAIN (CNI code 11) instead of waiting with it.
 * The wait is a blocking flock ended by a timer (store/lock.c), so it keeps the kernel's queue.
 */
#define LOCK_DIR "/run/blockipam"

static int open_node_lock(struct etcd *e)
{
	char path[sizeof(LOCK_DIR) + 48];
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[3] = {e->endpoints, e->prefix, e->node};
	struct stat st;
	int fd;

	for (int i = 0; i < 3; i++)
		for (const char *c = parts[i];; c++) {
			h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
			if (!*c)
				break;
		}
	if (mkdir(LOCK_DIR, 0700) != 0 && errno != EEXIST)
		return -2;
	if (lstat(LOCK_DIR, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022))
		return -2;
	e->lock_hash = h;
	snprintf(path, sizeof(path), "%s/etcd-%016llx.lock", LOCK_DIR, (unsigned long long)h);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	return fd >= 0 ? fd : -2;
}

static int etcd_lock(struct bip_store *s, bool on)
{
	struct etcd *e = bip__to_etcd(s);
	int rc, err;

	if (e->read_only)
		return BIP_OK;
	if (e->lock_fd == -1)
		e->lock_fd = open_node_lock(e);
	if (e->lock_fd < 0)
		return BIP_OK;
	if (!on) {
		flock(e->lock_fd, LOCK_UN);
		return BIP_OK;
	}
	e->errmsg[0] = '\0';
	rc = bip__lock_wait(e->lock_fd, e->budget_ms, &err);
	if (rc == BIP_EAGAIN) {
		bip__store_seterr(
		    e->errmsg, sizeof(e->errmsg),
		    "the node lock %s/etcd-%016llx.lock (node '%s') was held by another process "
		    "for over %d ms (a stopped or stuck process of this machine?)",
		    LOCK_DIR, (unsigned long long)e->lock_hash, e->node, e->budget_ms);
		return rc;
	}
	return BIP_OK; /* held, or flock failed: no lock then, the compares still decide */
}

static void etcd_close(struct bip_store *s)
{
	struct etcd *e = bip__to_etcd(s);

	if (!e)
		return;
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	free(e->endpoints);
	free(e->node);
	bip__http_conn_free(&e->conn); /* before the TLS context it uses */
	bip__tls_free(e->tls);
	free(e->eps);
	free(e->prefix);
	free(e);
}

static const struct bip_store_ops etcd_ops = {
    .name = "etcd",
    .get = bip__etcd_get,
    .list = bip__etcd_list,
    .txn = bip__etcd_txn,
    .close = etcd_close,
    .errmsg = etcd_errmsg,
    .read = bip__etcd_read,
    .lock = etcd_lock,
};

int bip_etcd_open(const char *endpoints, bool tls, const struct bip_store_opts *opts,
		  struct bip_store **out, char *err, size_t errlen)
{
	static const struct bip_store_opts none;
	const char *scheme = tls ? "etcds" : "etcd", *prefix;
	struct etcd *e = calloc(1, sizeof(*e));
	char why[400];
	int rc = BIP_ENOMEM;

	if (!opts)
		opts = &none;
	if (!e)
		goto out;
	e->base.ops = &etcd_ops;
	e->lock_fd = -1;
	bip__http_conn_init(&e->conn);
	rc = BIP_EINVAL;
	if (opts->timeout_ms < 0) {
		bip__store_seterr(err, errlen, "invalid etcd timeout %d ms", opts->timeout_ms);
		goto out;
	}
	e->budget_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_BUDGET_MS;
	e->attempt_ms = e->budget_ms < ATTEMPT_MS ? e->budget_ms : ATTEMPT_MS;
	e->read_only = opts->read_only;
	prefix = opts->prefix && *opts->prefix ? opts->prefix : BIP_STORE_DEFAULT_PREFIX;
	if (strlen(prefix) > PREFIX_MAX) {
		bip__store_seterr(err, errlen, "etcd key prefix longer than %d bytes", PREFIX_MAX);
		goto out;
	}
	rc = BIP_ENOMEM;
	e->prefix = strdup(prefix);
	e->endpoints = strdup(endpoints);
	e->node = strdup(opts->node ? opts->node : "");
	e->eps = calloc(MAX_ENDPOINTS, sizeof(*e->eps));
	if (!e->prefix || !e->endpoints || !e->node || !e->eps)
		goto out;
	e->plen = strlen(prefix);
	rc = bip__etcd_parse_endpoints(endpoints, e->eps, &e->neps, why, sizeof(why));
	if (rc != BIP_OK) {
		bip__store_seterr(err, errlen, "invalid store address '%s://%s': %s", scheme,
				  endpoints, why);
		goto out;
	}
	rc = BIP_EINVAL;
	if (tls) {
		const char *ca = opts->ca_file && *opts->ca_file ? opts->ca_file : NULL;
		const char *cert = opts->cert_file && *opts->cert_file ? opts->cert_file : NULL;
		const char *key = opts->key_file && *opts->key_file ? opts->key_file : NULL;

		if (!cert != !key) {
			bip__store_seterr(err, errlen,
					  "etcds://: a client certificate needs its key (cert_file "
					  "and key_file go together)");
			goto out;
		}
		rc = bip__tls_new(ca, cert, key, &e->tls, err, errlen);
		if (rc != BIP_OK)
			goto out;
	}
	/* Processes spread over the endpoints; each then stays on one while it answers. */
	e->rng = (uint64_t)getpid() << 32 ^ (uint64_t)bip__http_now_ms() ^ (uint64_t)(uintptr_t)e;
	e->rng |= 1;
	e->cur = (size_t)(bip__etcd_rand(e) % e->neps);
	rc = BIP_OK;
out:
	if (rc != BIP_OK) {
		etcd_close(e ? &e->base : NULL);
		e = NULL;
	}
	*out = e ? &e->base : NULL;
	return rc;
}

void bip__etcd_stats(struct bip_store *s, struct bip__etcd_stats *out)
{
	struct etcd *e = bip__to_etcd(s);

	*out = (struct bip__etcd_stats){0};
	if (s && s->ops == &etcd_ops) {
		out->requests = e->conn.requests;
		out->connects = e->conn.connects;
	}
}
