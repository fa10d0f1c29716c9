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

/* One migration: what the command line asks for, then what it read, wrote and took. */
struct migration {
	const char *from, *to;
	bool force;
	struct bip_store *src, *dst;
	struct bip_kvs in, old, back; /* the source; the target's keys before; the target after */
	struct bip_op *ops;
	struct ctl_progress *pr; /* the step running, if any */
	size_t nput, ndel, ntxn, bytes;
	double t0, t_read, t_write, t_end;
};

/* CTL_CONTINUE with m's options filled in, or the exit status. */
static int parse_args(int argc, char **argv, struct migration *m)
{
	enum { OPT_FROM = 0x200, OPT_TO, OPT_FORCE };
	static const struct option longopts[] = {{"from", required_argument, NULL, OPT_FROM},
						 {"to", required_argument, NULL, OPT_TO},
						 {"force", no_argument, NULL, OPT_FORCE},
						 CTL_LONGOPTS};
	int c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		if (c == OPT_FROM)
			m->from = optarg;
		else if (c == OPT_TO)
			m->to = optarg;
		else if (c == OPT_FORCE)
			m->force = true;
	}
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE)
		return rc;
	if (!m->from || !m->to)
		return ctl_usage_err(&usage, "%s is required", !m->from ? "--from" : "--to");
	if (strcmp(m->from, m->to) == 0)
		return ctl_usage_err(&usage, "--from and --to are the same store '%s'", m->from);
	return CTL_CONTINUE;
}

/* Open both stores, read the source and the target's keys (sorted); the target must be empty
 * unless --force. */
static int read_stores(struct migration *m)
{
	int rc;

	m->t0 = now_ms();
	if (open_store(m->from, true, "source (--from)", &m->src) != CTL_EXIT_OK ||
	    open_store(m->to, false, "target (--to)", &m->dst) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	m->pr = ctl_progress_start("reading the source store");
	rc = bip_store_list(m->src, "", 0, &m->in);
	ctl_progress_stop(m->pr);
	m->pr = NULL;
	if (rc != BIP_OK) {
		store_err(m->src, rc, "cannot read the source store", m->from);
		return CTL_EXIT_ERR;
	}
	m->t_read = now_ms();
	if ((rc = bip_store_list(m->dst, "", BIP_LIST_KEYS_ONLY, &m->old)) != BIP_OK) {
		store_err(m->dst, rc, "cannot read the target store", m->to);
		return CTL_EXIT_ERR;
	}
	if (m->old.n > 0 && !m->force) {
		ctl_err("the target store '%s' is not empty: it holds %zu key%s (first '%s'); "
			"--force replaces its contents",
			m->to, m->old.n, m->old.n == 1 ? "" : "s", m->old.v[0].key);
		return CTL_EXIT_ERR;
	}
	if (m->in.n) /* qsort and bsearch want a non-NULL array even when empty */
		qsort(m->in.v, m->in.n, sizeof(*m->in.v), kv_cmp);
	if (m->old.n)
		qsort(m->old.v, m->old.n, sizeof(*m->old.v), kv_cmp);
	return CTL_EXIT_OK;
}

/* Delete the target's keys the source lacks (--force), then copy every key of the source. */
static int write_target(struct migration *m)
{
	const struct bip_kvs *in = &m->in, *old = &m->old;

	m->ops = calloc(in->n + old->n + 1, sizeof(*m->ops));
	if (!m->ops) {
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	/* --force: the target's keys the source lacks go first (merge walk over sorted keys) */
	for (size_t i = 0; i < old->n; i++) {
		const struct bip_kv *k =
		    in->n ? bsearch(&old->v[i], in->v, in->n, sizeof(*in->v), kv_cmp) : NULL;

		if (!k)
			m->ops[m->ndel++] =
			    (struct bip_op){.kind = BIP_OP_DEL, .key = old->v[i].key};
	}
	m->pr = m->ndel ? ctl_progress_start("deleting the target's other keys") : NULL;
	if (m->ndel &&
	    apply_batches(m->dst, m->to, m->ops, m->ndel, false, &m->ntxn, m->pr) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	ctl_progress_stop(m->pr);
	m->pr = NULL;
	for (size_t i = 0; i < in->n; i++) {
		m->ops[i] = (struct bip_op){.kind = BIP_OP_PUT,
					    .key = in->v[i].key,
					    .value = in->v[i].value,
					    .len = in->v[i].len};
		m->bytes += in->v[i].len;
	}
	m->nput = in->n;
	m->pr = ctl_progress_start("copying keys");
	if (apply_batches(m->dst, m->to, m->ops, m->nput, !m->force, &m->ntxn, m->pr) !=
	    CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	ctl_progress_stop(m->pr);
	m->pr = NULL;
	return CTL_EXIT_OK;
}

/* Read the target back: it must hold exactly the source's keys and values. */
static int verify(struct migration *m)
{
	int rc;

	m->pr = ctl_progress_start("verifying the target store");
	m->t_write = now_ms();
	rc = bip_store_list(m->dst, "", 0, &m->back);
	ctl_progress_stop(m->pr);
	m->pr = NULL;
	if (rc != BIP_OK) {
		store_err(m->dst, rc, "cannot read the target store back from", m->to);
		return CTL_EXIT_ERR;
	}
	if (m->back.n)
		qsort(m->back.v, m->back.n, sizeof(*m->back.v), kv_cmp);
	if (!same(&m->in, &m->back, m->to))
		return CTL_EXIT_ERR;
	m->t_end = now_ms();
	return CTL_EXIT_OK;
}

static int report(const struct migration *m)
{
	if (!ctl_tabular()) {
		json_t *j =
		    json_pack("{sssssIsIsIsIsbsfsfsfsf}", "from", m->from, "to", m->to, "keys",
			      (json_int_t)m->nput, "bytes", (json_int_t)m->bytes, "deleted",
			      (json_int_t)m->ndel, "transactions", (json_int_t)m->ntxn, "verified",
			      1, "readMs", m->t_read - m->t0, "writeMs", m->t_write - m->t_read,
			      "verifyMs", m->t_end - m->t_write, "totalMs", m->t_end - m->t0);
		int ret;

		if (!j)
			ctl_err("out of memory");
		ret = j ? ctl_print(j) : CTL_EXIT_ERR;
		json_decref(j);
		return ret;
	}
	printf("migrated %zu key%s (%zu bytes of values) from %s to %s in %zu transaction%s\n",
	       m->nput, m->nput == 1 ? "" : "s", m->bytes, m->from, m->to, m->ntxn,
	       m->ntxn == 1 ? "" : "s");
	if (m->ndel)
		printf("deleted %zu key%s of the target that the source does not hold (--force)\n",
		       m->ndel, m->ndel == 1 ? "" : "s");
	printf("verified: the target holds exactly the same %zu keys and values\n", m->back.n);
	printf("time: %.0f ms (read %.0f, write %.0f, verify %.0f)\n", m->t_end - m->t0,
	       m->t_read - m->t0, m->t_write - m->t_read, m->t_end - m->t_write);
	return CTL_EXIT_OK;
}

int store_migrate_main(int argc, char **argv)
{
	struct migration m = {0};
	int ret = CTL_EXIT_ERR, rc;

	if ((rc = parse_args(argc, argv, &m)) != CTL_CONTINUE)
		return rc;
	if (read_stores(&m) == CTL_EXIT_OK && write_target(&m) == CTL_EXIT_OK &&
	    verify(&m) == CTL_EXIT_OK)
		ret = report(&m);
	ctl_progress_stop(m.pr);
	free(m.ops);
	bip_kvs_free(&m.in);
	bip_kvs_free(&m.old);
	bip_kvs_free(&m.back);
	bip_store_close(m.src);
	bip_store_close(m.dst);
	return ret;
}
