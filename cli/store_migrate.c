/*
 * store migrate --from ADDR --to ADDR [--force]: copy every record of one store to another
 * (sqlite -> etcd, etcd -> sqlite, or between two of a kind), then read the target back and
 * compare it with what was read from the source, key by key and byte by byte.
 *
 * The source is read in one list (one snapshot: etcd pins one revision, SQLite reads in one
 * transaction); writers should be stopped while it runs, or their later changes are not copied.
 * The target is written in transactions of at most BATCH_OPS operations (etcd's default
 * --max-txn-ops is 128) and BATCH_BYTES bytes of values (etcd refuses requests over
 * --max-request-bytes, 1.5 MiB by default, and its JSON gateway sends values in base64).
 * Without --force, a target holding any key is refused and every put is conditioned on its key
 * being absent, so a concurrent writer makes the migration fail instead of being overwritten.
 * With --force, target keys the source lacks are deleted and the others overwritten.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockipam/store.h"
#include "ctl.h"
#include "progress.h"
#include "subcommands.h"

#define BATCH_OPS 128
#define BATCH_BYTES (768u << 10)

static const struct ctl_usage usage = {
    "store migrate", "--from ADDR --to ADDR [--force]",
    "Copy every record of the store at --from to the store at --to (sqlite:///path/file.db,\n"
    "etcd://host:port[,...], etcds://...), in transactions of at most 128 operations (etcd's\n"
    "default --max-txn-ops), then read the target back and verify that it holds exactly the\n"
    "same keys and values. Stop the writers (plugin, gc) first: later changes are not copied.\n"
    "A target that holds any key is refused unless --force is given.\n"
    "\n"
    "  --from ADDR      the store to copy (opened read-only: a missing SQLite file is an error)\n"
    "  --to ADDR        the store to fill (a new SQLite file is created)\n"
    "  --force          a non-empty target: delete its keys the source lacks, overwrite the rest\n"
    "  -o json|yaml     what was done as data\n"};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bip_kv *)a)->key, ((const struct bip_kv *)b)->key);
}

static void store_err(struct bip_store *s, int rc, const char *fmt_what, const char *addr)
{
	const char *m = bip_store_errmsg(s);

	ctl_err("%s '%s': %s%s%s", fmt_what, addr, bip_strerror(rc), *m ? ": " : "", m);
}

static int open_store(const char *addr, bool read_only, const char *opt, struct bip_store **out)
{
	struct bip_store_opts opts;
	char err[512] = "";
	int rc;

	/* the --store-* options (TLS, prefix, timeout) serve both sides */
	if (ctl_store_opts(&opts, read_only) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	rc = bip_store_open(addr, &opts, out, err, sizeof(err));
	if (rc != BIP_OK) {
		ctl_err("cannot open the %s store '%s': %s", opt, addr,
			*err ? err : bip_strerror(rc));
		return CTL_EXIT_ERR;
	}
	return CTL_EXIT_OK;
}

/* Apply ops[0..n) in transactions; with guard, each put is conditioned on its key being absent. */
static int apply_batches(struct bip_store *dst, const char *addr, const struct bip_op *ops,
			 size_t n, bool guard, size_t *ntxn, struct ctl_progress *pr)
{
	struct bip_cmp *cmps = guard ? calloc(BATCH_OPS, sizeof(*cmps)) : NULL;
	size_t i = 0;

	if (guard && !cmps) {
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	while (i < n) {
		size_t j = i, bytes = 0;
		int64_t rev;
		int rc;

		/* at least one op per txn, however big its value */
		while (j < n && j - i < BATCH_OPS &&
		       (j == i || bytes + ops[j].len <= BATCH_BYTES)) {
			bytes += ops[j].len;
			if (guard)
				cmps[j - i] = (struct bip_cmp){.key = ops[j].key, .rev = 0};
			j++;
		}
		rc = bip_store_txn(dst, cmps, guard ? j - i : 0, ops + i, j - i, &rev);
		if (rc == BIP_ECONFLICT) {
			ctl_err("the target store '%s' changed during the migration (a key of this "
				"batch, '%s'..., appeared): is something writing to it?",
				addr, ops[i].key);
			free(cmps);
			return CTL_EXIT_ERR;
		}
		if (rc != BIP_OK) {
			char what[128];

			snprintf(what, sizeof(what), "cannot write keys %zu-%zu of %zu to", i + 1,
				 j, n);
			store_err(dst, rc, what, addr);
			free(cmps);
			return CTL_EXIT_ERR;
		}
		(*ntxn)++;
		i = j;
		ctl_progress_set(pr, i, n);
	}
	free(cmps);
	return CTL_EXIT_OK;
}

/* Whether dst (read back) holds exactly src: count, keys, values. Prints the first difference. */
static bool same(const struct bip_kvs *src, const struct bip_kvs *dst, const char *addr)
{
	size_t i;

	if (src->n != dst->n) {
		ctl_err("verification failed: the target '%s' holds %zu keys, the source %zu", addr,
			dst->n, src->n);
		return false;
	}
	for (i = 0; i < src->n; i++) {
		const struct bip_kv *a = &src->v[i], *b = &dst->v[i];

		if (strcmp(a->key, b->key) != 0) {
			ctl_err("verification failed: key %zu is '%s' in the source, '%s' in the "
				"target '%s'",
				i + 1, a->key, b->key, addr);
			return false;
		}
		if (a->len != b->len || memcmp(a->value, b->value, a->len) != 0) {
			ctl_err("verification failed: the value of '%s' differs in the target '%s' "
				"(%zu bytes, source %zu)",
				a->key, addr, b->len, a->len);
			return false;
		}
	}
	return true;
}

int store_migrate_main(int argc, char **argv)
{
	enum { OPT_FROM = 0x200, OPT_TO, OPT_FORCE };
	static const struct option longopts[] = {{"from", required_argument, NULL, OPT_FROM},
						 {"to", required_argument, NULL, OPT_TO},
						 {"force", no_argument, NULL, OPT_FORCE},
						 CTL_LONGOPTS};
	struct bip_store *src = NULL, *dst = NULL;
	struct bip_kvs in = {0}, old = {0}, back = {0};
	struct bip_op *ops = NULL;
	const char *from = NULL, *to = NULL;
	struct ctl_progress *pr = NULL;
	bool force = false;
	size_t i, nput = 0, ndel = 0, ntxn = 0, bytes = 0;
	double t0, t_read, t_write, t_end;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == OPT_FROM)
			from = optarg;
		else if (c == OPT_TO)
			to = optarg;
		else if (c == OPT_FORCE)
			force = true;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (!from || !to)
		return ctl_usage_err(&usage, "%s is required", !from ? "--from" : "--to");
	if (strcmp(from, to) == 0)
		return ctl_usage_err(&usage, "--from and --to are the same store '%s'", from);

	t0 = now_ms();
	if (open_store(from, true, "source (--from)", &src) != CTL_EXIT_OK ||
	    open_store(to, false, "target (--to)", &dst) != CTL_EXIT_OK)
		goto out;
	pr = ctl_progress_start("reading the source store");
	rc = bip_store_list(src, "", 0, &in);
	ctl_progress_stop(pr);
	pr = NULL;
	if (rc != BIP_OK) {
		store_err(src, rc, "cannot read the source store", from);
		goto out;
	}
	t_read = now_ms();
	if ((rc = bip_store_list(dst, "", BIP_LIST_KEYS_ONLY, &old)) != BIP_OK) {
		store_err(dst, rc, "cannot read the target store", to);
		goto out;
	}
	if (old.n > 0 && !force) {
		ctl_err("the target store '%s' is not empty: it holds %zu key%s (first '%s'); "
			"--force replaces its contents",
			to, old.n, old.n == 1 ? "" : "s", old.v[0].key);
		goto out;
	}
	if (in.n) /* qsort and bsearch want a non-NULL array even when empty */
		qsort(in.v, in.n, sizeof(*in.v), kv_cmp);
	if (old.n)
		qsort(old.v, old.n, sizeof(*old.v), kv_cmp);

	ops = calloc(in.n + old.n + 1, sizeof(*ops));
	if (!ops) {
		ctl_err("out of memory");
		goto out;
	}
	/* --force: the target's keys the source lacks go first (merge walk over sorted keys) */
	for (i = 0; i < old.n; i++) {
		const struct bip_kv *k =
		    in.n ? bsearch(&old.v[i], in.v, in.n, sizeof(*in.v), kv_cmp) : NULL;

		if (!k)
			ops[ndel++] = (struct bip_op){.kind = BIP_OP_DEL, .key = old.v[i].key};
	}
	pr = ndel ? ctl_progress_start("deleting the target's other keys") : NULL;
	if (ndel && apply_batches(dst, to, ops, ndel, false, &ntxn, pr) != CTL_EXIT_OK)
		goto out;
	ctl_progress_stop(pr);
	pr = NULL;
	for (i = 0; i < in.n; i++) {
		ops[i] = (struct bip_op){.kind = BIP_OP_PUT,
					 .key = in.v[i].key,
					 .value = in.v[i].value,
					 .len = in.v[i].len};
		bytes += in.v[i].len;
	}
	nput = in.n;
	pr = ctl_progress_start("copying keys");
	if (apply_batches(dst, to, ops, nput, !force, &ntxn, pr) != CTL_EXIT_OK)
		goto out;
	ctl_progress_stop(pr);
	pr = ctl_progress_start("verifying the target store");
	t_write = now_ms();

	rc = bip_store_list(dst, "", 0, &back);
	ctl_progress_stop(pr);
	pr = NULL;
	if (rc != BIP_OK) {
		store_err(dst, rc, "cannot read the target store back from", to);
		goto out;
	}
	if (back.n)
		qsort(back.v, back.n, sizeof(*back.v), kv_cmp);
	if (!same(&in, &back, to))
		goto out;
	t_end = now_ms();

	if (!ctl_tabular()) {
		json_t *j = json_pack(
		    "{sssssIsIsIsIsbsfsfsfsf}", "from", from, "to", to, "keys", (json_int_t)nput,
		    "bytes", (json_int_t)bytes, "deleted", (json_int_t)ndel, "transactions",
		    (json_int_t)ntxn, "verified", 1, "readMs", t_read - t0, "writeMs",
		    t_write - t_read, "verifyMs", t_end - t_write, "totalMs", t_end - t0);

		if (!j)
			ctl_err("out of memory");
		ret = j ? ctl_print(j) : CTL_EXIT_ERR;
		json_decref(j);
		goto out;
	}
	printf("migrated %zu key%s (%zu bytes of values) from %s to %s in %zu transaction%s\n",
	       nput, nput == 1 ? "" : "s", bytes, from, to, ntxn, ntxn == 1 ? "" : "s");
	if (ndel)
		printf("deleted %zu key%s of the target that the source does not hold (--force)\n",
		       ndel, ndel == 1 ? "" : "s");
	printf("verified: the target holds exactly the same %zu keys and values\n", back.n);
	printf("time: %.0f ms (read %.0f, write %.0f, verify %.0f)\n", t_end - t0, t_read - t0,
	       t_write - t_read, t_end - t_write);
	ret = CTL_EXIT_OK;
out:
	ctl_progress_stop(pr);
	free(ops);
	bip_kvs_free(&in);
	bip_kvs_free(&old);
	bip_kvs_free(&back);
	bip_store_close(src);
	bip_store_close(dst);
	return ret;
}
