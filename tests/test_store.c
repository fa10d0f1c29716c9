/*
 * The store conformance suite. Every case in `conf_cases` is written against store.h only and runs
 * on every backend in `backends`, each time on a fresh, empty store opened through its address
 * (bip_store_open), so a backend is one row: how to make a fresh store and how to remove it.
 * A backend that cannot run here (etcd without BIP_TEST_ETCD) is one loud skip.
 *
 * The read_* cases hold bip_store_read to its contract, on a backend's own op (etcd) and on the
 * fallback over get and list (SQLite).
 *
 * After the table come the SQLite-only tests: bad addresses, paths and files (each with what
 * may exist on disk afterwards), file modes, read-only opens, list re-entry, processes opening
 * a new file together, and the per-exec cost (printed, not checked).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blockipam/err.h"
#include "blockipam/store.h"
#include "t.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A fresh store: its address and options, and what the backend needs to remove it. */
struct fixture {
	char addr[PATH_MAX + 16];
	char dir[64];
	char prefix[64];
	struct bip_store_opts opts;
};

struct backend {
	const char *name;
	const char *(*unavailable)(void); /* why it cannot run here, or NULL */
	int (*make)(struct fixture *f);   /* 0 on success */
	void (*destroy)(struct fixture *f);
	/* Run the cases through a wrapper without the batch read op: bip_store_read's generic
	 * path (get and list bracketed by revisions), which a backend without one gets. */
	bool generic_read;
};

/* ---- helpers ---- */

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int put(struct bip_store *s, const char *key, const char *value, int64_t *rev)
{
	struct bip_op op = {BIP_OP_PUT, key, value, strlen(value)};

	return bip_store_txn(s, NULL, 0, &op, 1, rev);
}

/* The value of key as a string ("" when absent), and its revision (0 when absent). */
static int64_t get_str(struct bip_store *s, const char *key, char *buf, size_t len)
{
	struct bip_kv kv = {0};
	int64_t rev = 0;

	buf[0] = '\0';
	if (bip_store_get(s, key, &kv) == BIP_OK) {
		snprintf(buf, len, "%s", (const char *)kv.value);
		rev = kv.rev;
		bip_kv_clear(&kv);
	}
	return rev;
}

/* The store revision, from an empty list. */
static int64_t store_rev(struct bip_store *s)
{
	struct bip_kvs kvs = {0};
	int64_t rev = -1;

	if (bip_store_list(s, "\xff\xff\xff", BIP_LIST_KEYS_ONLY, &kvs) == BIP_OK)
		rev = kvs.rev;
	bip_kvs_free(&kvs);
	return rev;
}

/* The entries of dir, sorted, separated by spaces ("" when empty). */
static void dir_entries(const char *dir, char *buf, size_t len)
{
	char *names[64];
	size_t n = 0, off = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	buf[0] = '\0';
	if (!d) {
		snprintf(buf, len, "(cannot open: %s)", strerror(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", i ? " " : "",
					names[i]);
		free(names[i]);
	}
}

static void rm_tree(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

#define TMPDIR_LEN 64

static int make_tmpdir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/bip-store-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* ---- backends ---- */

static int sqlite_make(struct fixture *f)
{
	if (make_tmpdir(f->dir, sizeof(f->dir)) != 0)
		return -1;
	snprintf(f->addr, sizeof(f->addr), "sqlite://%s/ipam.db", f->dir);
	return 0;
}

static void sqlite_destroy(struct fixture *f)
{
	char got[256];

	/* Every handle is closed: the last close checkpoints and removes -wal and -shm. */
	dir_entries(f->dir, got, sizeof(got));
	T_CHECK(strcmp(got, "ipam.db ipam.db.lock") == 0, "files left in %s: %s", f->dir, got);
	rm_tree(f->dir);
}

static const char *etcd_unavailable(void)
{
	const char *e = getenv("BIP_TEST_ETCD");

	if (!e || !*e)
		return "BIP_TEST_ETCD is not set (etcd://127.0.0.1:PORT): the etcd backend is NOT "
		       "tested";
	return NULL;
}

/* etcd: one server for every case, a fresh prefix per case. */
static int etcd_make(struct fixture *f)
{
	static unsigned n;

	snprintf(f->addr, sizeof(f->addr), "%s", getenv("BIP_TEST_ETCD"));
	snprintf(f->prefix, sizeof(f->prefix), "/blockipam-test/%ld-%ld-%u/", (long)getpid(),
		 (long)time(NULL), n++);
	f->opts.prefix = f->prefix;
	return 0;
}

static void etcd_destroy(struct fixture *f)
{
	(void)f; /* the keys stay under their unique prefix */
}

static const struct backend backends[] = {
	{"sqlite", NULL, sqlite_make, sqlite_destroy},
	{"sqlite-generic-read", NULL, sqlite_make, sqlite_destroy, true},
	{"etcd", etcd_unavailable, etcd_make, etcd_destroy},
};

/* ---- conformance cases: store.h only ---- */

static void case_get_absent(struct bip_store *s, const struct fixture *f)
{
	struct bip_kv kv = {.key = (char *)"untouched", .rev = 7};

	(void)f;
	T_CHECK_INT(bip_store_get(s, "nope", &kv), BIP_ENOTFOUND);
	T_CHECK(kv.rev == 7 && strcmp(kv.key, "untouched") == 0, "out written on failure");
}

static void case_create_if_absent(struct bip_store *s, const struct fixture *f)
{
	struct bip_cmp cmp = {"ips/10.0.0.1", 0};
	struct bip_op op = {BIP_OP_PUT, "ips/10.0.0.1", "ctr-a", 5};
	struct bip_op op2 = {BIP_OP_PUT, "ips/10.0.0.1", "ctr-b", 5};
	int64_t rev = 0, rev2 = -1;
	char buf[32];

	(void)f;
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, &rev), BIP_OK);
	T_CHECK(rev > 0, "rev %" PRId64, rev);
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op2, 1, &rev2), BIP_ECONFLICT);
	T_CHECK_INT(get_str(s, "ips/10.0.0.1", buf, sizeof(buf)), rev);
	T_CHECK_STR(buf, "ctr-a");
}

static void case_compare_and_swap(struct bip_store *s, const struct fixture *f)
{
	int64_t r1 = 0, r2 = 0, r3 = 0;
	struct bip_cmp cmp = {"k", 0};
	struct bip_op op = {BIP_OP_PUT, "k", "v2", 2};
	char buf[32];

	(void)f;
	T_REQUIRE(put(s, "k", "v1", &r1) == BIP_OK);
	cmp.rev = r1;
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, &r2), BIP_OK);
	T_CHECK(r2 > r1, "r2 %" PRId64 " r1 %" PRId64, r2, r1);
	op.value = "v3";
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, &r3), BIP_ECONFLICT); /* stale */
	cmp.rev = 0;
	T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, &r3), BIP_ECONFLICT); /* not absent */
	T_CHECK_INT(get_str(s, "k", buf, sizeof(buf)), r2);
	T_CHECK_STR(buf, "v2");
}

static void case_all_or_nothing(struct bip_store *s, const struct fixture *f)
{
	int64_t ra = 0, rb = 0, rd = 0;
	char buf[32];

	(void)f;
	T_REQUIRE(put(s, "a", "a1", &ra) == BIP_OK);
	T_REQUIRE(put(s, "b", "b1", &rb) == BIP_OK);
	T_REQUIRE(put(s, "d", "d1", &rd) == BIP_OK);
	/* Each row has exactly one failing compare among several that hold. */
	struct bip_cmp rows[][3] = {
		{{"a", ra}, {"b", rb}, {"c", 1}},      /* c absent, want rev 1 */
		{{"a", ra}, {"b", rb + 100}, {"c", 0}}, /* b at another rev */
		{{"a", 0}, {"b", rb}, {"c", 0}},        /* a exists, want absent */
		{{"c", 0}, {"a", ra}, {"d", rd + 1}},   /* d stale */
	};
	for (size_t i = 0; i < LEN(rows); i++) {
		struct bip_op ops[] = {
			{BIP_OP_PUT, "a", "a2", 2},
			{BIP_OP_PUT, "b", "b2", 2},
			{BIP_OP_PUT, "c", "c2", 2},
			{BIP_OP_DEL, "d", NULL, 0},
		};
		int64_t rev = -1;

		T_CHECK_INT(bip_store_txn(s, rows[i], 3, ops, 4, &rev), BIP_ECONFLICT);
		T_CHECK(rev == -1, "row %zu: rev written on conflict", i);
		T_CHECK_INT(get_str(s, "a", buf, sizeof(buf)), ra);
		T_CHECK_STR(buf, "a1");
		T_CHECK_INT(get_str(s, "b", buf, sizeof(buf)), rb);
		T_CHECK_STR(buf, "b1");
		T_CHECK_INT(get_str(s, "c", buf, sizeof(buf)), 0);
		T_CHECK_INT(get_str(s, "d", buf, sizeof(buf)), rd);
		T_CHECK_STR(buf, "d1");
	}
}

static void case_puts_and_deletes(struct bip_store *s, const struct fixture *f)
{
	struct bip_cmp cmps[] = {{"x", 0}, {"y", 0}, {"z", 0}};
	struct bip_op ops[] = {
		{BIP_OP_PUT, "z", "z1", 2},
		{BIP_OP_DEL, "x", NULL, 0},
		{BIP_OP_PUT, "y", "y2", 2},
	};
	int64_t rx = 0, ry = 0, rev = 0;
	char buf[32];

	(void)f;
	T_REQUIRE(put(s, "x", "x1", &rx) == BIP_OK);
	T_REQUIRE(put(s, "y", "y1", &ry) == BIP_OK);
	cmps[0].rev = rx;
	cmps[1].rev = ry;
	T_CHECK_INT(bip_store_txn(s, cmps, 3, ops, 3, &rev), BIP_OK);
	T_CHECK(rev > ry, "rev %" PRId64, rev);
	T_CHECK_INT(get_str(s, "x", buf, sizeof(buf)), 0);
	T_CHECK_INT(get_str(s, "y", buf, sizeof(buf)), rev);
	T_CHECK_STR(buf, "y2");
	T_CHECK_INT(get_str(s, "z", buf, sizeof(buf)), rev);
	T_CHECK_STR(buf, "z1");
}

static void case_delete_absent(struct bip_store *s, const struct fixture *f)
{
	struct bip_op del = {BIP_OP_DEL, "nope", NULL, 0};
	int64_t r1 = 0, r2 = 0;
	char buf[8];

	(void)f;
	T_REQUIRE(put(s, "k", "v", &r1) == BIP_OK);
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &del, 1, &r2), BIP_OK);
	T_CHECK(r2 >= r1, "revision went back: %" PRId64 " < %" PRId64, r2, r1);
	T_CHECK(store_rev(s) >= r2, "txn returned %" PRId64 ", store is at %" PRId64, r2,
		store_rev(s));
	T_CHECK_INT(get_str(s, "nope", buf, sizeof(buf)), 0);
	T_CHECK_INT(get_str(s, "k", buf, sizeof(buf)), r1);
}

/* Keys where one is a prefix of another, and 0xff bytes around the prefix upper bound. */
static const char *const list_keys[] = {
	"a", "a/b", "a/b/", "a/b/c", "a/bc", "a/b\xff", "a/b\xff\xff", "a/c", "a0", "b",
	"\xff", "\xff\xff", "\xff" "a",
};

static const struct {
	const char *prefix;
	const char *want; /* keys in order, separated by '|' */
} list_rows[] = {
	{"a/b", "a/b|a/b/|a/b/c|a/bc|a/b\xff|a/b\xff\xff"},
	{"a/b/", "a/b/|a/b/c"},
	{"a/bc", "a/bc"},
	{"a/b\xff", "a/b\xff|a/b\xff\xff"},
	{"a/", "a/b|a/b/|a/b/c|a/bc|a/b\xff|a/b\xff\xff|a/c"},
	{"a", "a|a/b|a/b/|a/b/c|a/bc|a/b\xff|a/b\xff\xff|a/c|a0"},
	{"\xff", "\xff|\xff" "a|\xff\xff"},
	{"\xff\xff", "\xff\xff"},
	{"zz", ""},
	{"a/b/c/", ""},
	{"", "a|a/b|a/b/|a/b/c|a/bc|a/b\xff|a/b\xff\xff|a/c|a0|b|\xff|\xff" "a|\xff\xff"},
};

static void join_keys(const struct bip_kvs *kvs, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < kvs->n; i++)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", i ? "|" : "",
					kvs->v[i].key);
}

/* List prefix; want the keys in want ('|'-separated), each at mod revision rev. */
static void check_list(struct bip_store *s, const char *prefix, unsigned flags, const char *want,
		       int64_t rev)
{
	bool keys_only = flags & BIP_LIST_KEYS_ONLY;
	struct bip_kvs kvs = {0};
	char got[512];

	T_REQUIRE(bip_store_list(s, prefix, flags, &kvs) == BIP_OK, "list '%s'", prefix);
	join_keys(&kvs, got, sizeof(got));
	T_CHECK(strcmp(got, want) == 0, "prefix '%s' flags %u: got '%s', want '%s'", prefix, flags,
		got, want);
	T_CHECK(kvs.rev >= rev, "list rev %" PRId64 " < %" PRId64, kvs.rev, rev);
	for (size_t k = 0; k < kvs.n; k++) {
		const struct bip_kv *kv = &kvs.v[k];
		size_t len = keys_only ? 0 : strlen(kv->key); /* each value is its key */

		T_CHECK_INT(kv->rev, rev);
		T_CHECK(kv->len == len && memcmp(kv->value, kv->key, len) == 0,
			"%s: value of '%s'", keys_only ? "keys only" : "full", kv->key);
	}
	bip_kvs_free(&kvs);
}

static void case_list_prefix(struct bip_store *s, const struct fixture *f)
{
	size_t nkeys = LEN(list_keys);
	struct bip_op ops[LEN(list_keys)];
	int64_t rev = 0;

	(void)f;
	for (size_t i = 0; i < nkeys; i++) {
		const char *k = list_keys[i];

		ops[i] = (struct bip_op){BIP_OP_PUT, k, k, strlen(k)};
	}
	T_REQUIRE(bip_store_txn(s, NULL, 0, ops, nkeys, &rev) == BIP_OK);
	for (size_t i = 0; i < LEN(list_rows); i++) {
		check_list(s, list_rows[i].prefix, 0, list_rows[i].want, rev);
		check_list(s, list_rows[i].prefix, BIP_LIST_KEYS_ONLY, list_rows[i].want, rev);
	}
}

static void case_list_empty_store(struct bip_store *s, const struct fixture *f)
{
	struct bip_kvs kvs = {0};

	(void)f;
	T_CHECK_INT(bip_store_list(s, "", 0, &kvs), BIP_OK);
	T_CHECK_INT(kvs.n, 0);
	T_CHECK(kvs.rev > 0, "rev %" PRId64, kvs.rev);
	bip_kvs_free(&kvs);
}

static void case_list_keys_only(struct bip_store *s, const struct fixture *f)
{
	struct bip_kvs kvs = {0};
	int64_t r1 = 0, r2 = 0;

	(void)f;
	T_REQUIRE(put(s, "p/1", "one", &r1) == BIP_OK);
	T_REQUIRE(put(s, "p/2", "two", &r2) == BIP_OK);
	T_REQUIRE(bip_store_list(s, "p/", BIP_LIST_KEYS_ONLY, &kvs) == BIP_OK);
	T_REQUIRE(kvs.n == 2, "n %zu", kvs.n);
	T_CHECK_STR(kvs.v[0].key, "p/1");
	T_CHECK_INT(kvs.v[0].rev, r1);
	T_CHECK_INT(kvs.v[0].len, 0);
	T_CHECK_STR(kvs.v[1].key, "p/2");
	T_CHECK_INT(kvs.v[1].rev, r2);
	T_CHECK_INT(kvs.v[1].len, 0);
	bip_kvs_free(&kvs);
}

static void case_revisions_grow(struct bip_store *s, const struct fixture *f)
{
	int64_t prev = 0, rev = 0, max_mod = 0;
	struct bip_kvs kvs = {0};
	char key[16];

	(void)f;
	for (int i = 0; i < 30; i++) {
		struct bip_op ops[2] = {{BIP_OP_PUT, key, "v", 1}, {BIP_OP_PUT, "shared", "v", 1}};

		snprintf(key, sizeof(key), "r/%02d", i % 7);
		T_CHECK_INT(bip_store_txn(s, NULL, 0, ops, 1 + (i & 1), &rev), BIP_OK);
		T_CHECK(rev > prev, "txn %d: rev %" PRId64 " after %" PRId64, i, rev, prev);
		prev = rev;
	}
	T_REQUIRE(bip_store_list(s, "", 0, &kvs) == BIP_OK);
	for (size_t i = 0; i < kvs.n; i++)
		if (kvs.v[i].rev > max_mod)
			max_mod = kvs.v[i].rev;
	T_CHECK_INT(max_mod, prev);
	T_CHECK(kvs.rev >= max_mod && kvs.rev >= prev, "list rev %" PRId64, kvs.rev);
	bip_kvs_free(&kvs);
}

static void check_value(struct bip_store *s, const char *key, const unsigned char *want,
			size_t len)
{
	struct bip_kv kv = {0};
	struct bip_kvs kvs = {0};

	T_REQUIRE(bip_store_get(s, key, &kv) == BIP_OK, "get '%s'", key);
	T_CHECK(kv.len == len && memcmp(kv.value, want, len) == 0 && kv.value[len] == '\0',
		"get '%s': %zu bytes, want %zu", key, kv.len, len);
	bip_kv_clear(&kv);
	T_REQUIRE(bip_store_list(s, key, 0, &kvs) == BIP_OK && kvs.n == 1, "list '%s'", key);
	T_CHECK(kvs.v[0].len == len && memcmp(kvs.v[0].value, want, len) == 0,
		"list '%s': %zu bytes, want %zu", key, kvs.v[0].len, len);
	bip_kvs_free(&kvs);
}

static void case_binary_values(struct bip_store *s, const struct fixture *f)
{
	unsigned char all[256], nul = 0;
	struct bip_op ops[] = {
		{BIP_OP_PUT, "bin/all", all, sizeof(all)},
		{BIP_OP_PUT, "bin/nul", &nul, 1},
		{BIP_OP_PUT, "bin/empty", NULL, 0},
	};

	(void)f;
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	T_REQUIRE(bip_store_txn(s, NULL, 0, ops, 3, NULL) == BIP_OK);
	check_value(s, "bin/all", all, sizeof(all));
	check_value(s, "bin/nul", &nul, 1);
	check_value(s, "bin/empty", (const unsigned char *)"", 0);
}

static void case_large_value(struct bip_store *s, const struct fixture *f)
{
	size_t len = 1u << 20;
	unsigned char *v = malloc(len);
	struct bip_op op = {BIP_OP_PUT, "big", v, len};
	uint32_t x = 12345;

	(void)f;
	T_REQUIRE(v);
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (unsigned char)(x >> 16);
	}
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &op, 1, NULL), BIP_OK);
	check_value(s, "big", v, len);
	free(v);
}

static void case_compares_only(struct bip_store *s, const struct fixture *f)
{
	int64_t r1 = 0, r2 = 0;
	struct bip_cmp ok[] = {{"k", 0}, {"absent", 0}};
	struct bip_cmp bad[] = {{"k", 0}, {"absent", 5}};
	char buf[8];

	(void)f;
	T_REQUIRE(put(s, "k", "v", &r1) == BIP_OK);
	ok[0].rev = bad[0].rev = r1;
	T_CHECK_INT(bip_store_txn(s, ok, 2, NULL, 0, &r2), BIP_OK);
	T_CHECK(r2 >= r1 && store_rev(s) >= r2, "rev %" PRId64 ", store at %" PRId64, r2,
		store_rev(s));
	T_CHECK_INT(bip_store_txn(s, bad, 2, NULL, 0, NULL), BIP_ECONFLICT);
	T_CHECK_INT(get_str(s, "k", buf, sizeof(buf)), r1);
	T_CHECK_INT(get_str(s, "absent", buf, sizeof(buf)), 0);
}

static void case_many_keys(struct bip_store *s, const struct fixture *f)
{
	enum { N = 10000, BATCH = 1000 };
	struct bip_op *ops = calloc(BATCH, sizeof(*ops));
	char(*keys)[24] = calloc(N, sizeof(*keys));
	struct bip_kvs kvs = {0};

	(void)f;
	T_REQUIRE(ops && keys);
	/* Written in a scattered order, ten txns of 1000. */
	for (int b = 0; b < N / BATCH; b++) {
		for (int i = 0; i < BATCH; i++) {
			int k = (int)(((long)(b * BATCH + i) * 7919) % N);

			snprintf(keys[k], sizeof(keys[k]), "handles/%05d", k);
			ops[i] = (struct bip_op){BIP_OP_PUT, keys[k], keys[k], strlen(keys[k])};
		}
		T_CHECK_INT(bip_store_txn(s, NULL, 0, ops, BATCH, NULL), BIP_OK);
	}
	for (unsigned flags = 0; flags <= BIP_LIST_KEYS_ONLY; flags++) {
		T_CHECK_INT(bip_store_list(s, "handles/", flags, &kvs), BIP_OK);
		T_CHECK_INT(kvs.n, N);
		size_t bad = 0;

		while (bad < kvs.n && bad < N && strcmp(kvs.v[bad].key, keys[bad]) == 0)
			bad++;
		T_CHECK(bad == kvs.n, "entry %zu is '%s', want '%s'", bad,
			bad < kvs.n ? kvs.v[bad].key : "", bad < N ? keys[bad] : "");
		bip_kvs_free(&kvs);
	}
	free(ops);
	free(keys);
}

struct stop_ctx {
	int calls;
};

static int stop_after_3(void *ctx, const struct bip_kv *kv)
{
	struct stop_ctx *c = ctx;

	(void)kv;
	return ++c->calls == 3 ? 42 : 0;
}

static void case_list_stops(struct bip_store *s, const struct fixture *f)
{
	const char *keys[] = {"s/1", "s/2", "s/3", "s/4", "s/5"};
	struct bip_op ops[5];
	struct stop_ctx c = {0};
	int64_t rev = -1;

	(void)f;
	for (int i = 0; i < 5; i++)
		ops[i] = (struct bip_op){BIP_OP_PUT, keys[i], "v", 1};
	T_REQUIRE(bip_store_txn(s, NULL, 0, ops, 5, NULL) == BIP_OK);
	T_CHECK_INT(bip_store_list_cb(s, "s/", 0, stop_after_3, &c, &rev), 42);
	T_CHECK_INT(c.calls, 3);
	/* The store is usable afterwards. */
	T_CHECK_INT(put(s, "s/6", "v", NULL), BIP_OK);
}

static void case_bad_requests(struct bip_store *s, const struct fixture *f)
{
	static char longkey[BIP_KEY_MAX + 2], maxkey[BIP_KEY_MAX + 1];
	size_t big = (size_t)BIP_VALUE_MAX + 1;
	unsigned char *bigv = calloc(1, big);
	struct bip_op dup[] = {{BIP_OP_PUT, "d", "1", 1}, {BIP_OP_PUT, "e", "2", 1},
			       {BIP_OP_DEL, "d", NULL, 0}};
	struct bip_op toolong = {BIP_OP_PUT, longkey, "v", 1};
	struct bip_op atmax = {BIP_OP_PUT, maxkey, "v", 1};
	struct bip_op empty = {BIP_OP_PUT, "", "v", 1};
	struct bip_op large = {BIP_OP_PUT, "large", bigv, big};
	struct bip_cmp longcmp = {longkey, 0};
	struct bip_op ok = {BIP_OP_PUT, "ok", "v", 1};
	struct bip_kv kv = {0};
	char buf[8];

	(void)f;
	T_REQUIRE(bigv);
	memset(longkey, 'k', BIP_KEY_MAX + 1);
	memset(maxkey, 'm', BIP_KEY_MAX);
	T_CHECK_INT(bip_store_txn(s, NULL, 0, dup, 3, NULL), BIP_EINVAL);
	T_CHECK_INT(get_str(s, "e", buf, sizeof(buf)), 0); /* nothing applied */
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &toolong, 1, NULL), BIP_EINVAL);
	T_CHECK_INT(bip_store_txn(s, &longcmp, 1, &ok, 1, NULL), BIP_EINVAL);
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &empty, 1, NULL), BIP_EINVAL);
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &large, 1, NULL), BIP_EINVAL);
	T_CHECK_INT(bip_store_get(s, longkey, &kv), BIP_EINVAL);
	T_CHECK_INT(get_str(s, "ok", buf, sizeof(buf)), 0);
	T_CHECK_INT(bip_store_txn(s, NULL, 0, &atmax, 1, NULL), BIP_OK);
	T_CHECK(get_str(s, maxkey, buf, sizeof(buf)) > 0, "a key of BIP_KEY_MAX bytes");
	free(bigv);
}

/* ---- many processes ---- */

/* Fork n children running fn(i, fixture, write end); they start together once all exist. */
struct child_report {
	int index;
	int failures;
	int conflicts;
	double max_ms;
	unsigned char won[100];
};

typedef void (*child_fn)(int i, const struct fixture *f, struct child_report *r);

static int run_children(const struct fixture *f, int n, child_fn fn, struct child_report *reps)
{
	int go[2], res[2], failed = 0;
	pid_t pids[16];

	if (pipe(go) != 0 || pipe(res) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct child_report r = {.index = i};
			char c;

			close(go[1]);
			close(res[0]);
			(void)!read(go[0], &c, 1); /* EOF when the parent closes: start */
			fn(i, f, &r);
			r.failures += t_failed_checks;
			(void)!write(res[1], &r, sizeof(r));
			_exit(0);
		}
		if (pids[i] < 0)
			return -1;
	}
	close(go[0]);
	close(go[1]);
	close(res[1]);
	for (int i = 0; i < n; i++) {
		struct child_report r;

		ssize_t got = read(res[0], &r, sizeof(r));

		if (got != (ssize_t)sizeof(r) || r.index < 0 || r.index >= n)
			failed++;
		else
			reps[r.index] = r;
	}
	close(res[0]);
	for (int i = 0; i < n; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	return failed;
}

static struct bip_store *child_open(const struct fixture *f, struct child_report *r)
{
	struct bip_store *s = NULL;
	char err[256];
	int rc = bip_store_open(f->addr, &f->opts, &s, err, sizeof(err));

	if (rc != BIP_OK) {
		fprintf(stderr, "  child: open %s: %s: %s\n", f->addr, bip_errname(rc), err);
		r->failures++;
	}
	return s;
}

enum { PROCS = 8, INCREMENTS = 1000, RACE_KEYS = 100 };

static void counter_child(int i, const struct fixture *f, struct child_report *r)
{
	struct bip_store *s = child_open(f, r);

	(void)i;
	for (int n = 0; s && n < INCREMENTS; n++) {
		double t0 = now_ms(), dt;

		for (;;) {
			struct bip_kv kv = {0};
			struct bip_cmp cmp = {"counter", 0};
			char next[24];
			long v = 0;
			int rc = bip_store_get(s, "counter", &kv);

			if (rc == BIP_OK) {
				v = strtol((const char *)kv.value, NULL, 10);
				cmp.rev = kv.rev;
				bip_kv_clear(&kv);
			} else if (rc != BIP_ENOTFOUND) {
				r->failures++;
				break;
			}
			snprintf(next, sizeof(next), "%ld", v + 1);
			struct bip_op op = {BIP_OP_PUT, "counter", next, strlen(next)};
			rc = bip_store_txn(s, &cmp, 1, &op, 1, NULL);
			if (rc == BIP_OK)
				break;
			if (rc != BIP_ECONFLICT) {
				fprintf(stderr, "  child %d: txn: %s\n", i, bip_errname(rc));
				r->failures++;
				break;
			}
			r->conflicts++;
		}
		dt = now_ms() - t0;
		if (dt > r->max_ms)
			r->max_ms = dt;
	}
	bip_store_close(s);
}

static void case_counter_processes(struct bip_store *s, const struct fixture *f)
{
	struct child_report reps[PROCS] = {0};
	double t0 = now_ms(), max_ms = 0;
	int conflicts = 0, failures = 0;
	char buf[24];

	T_REQUIRE(run_children(f, PROCS, counter_child, reps) == 0, "children failed");
	for (int i = 0; i < PROCS; i++) {
		failures += reps[i].failures;
		conflicts += reps[i].conflicts;
		if (reps[i].max_ms > max_ms)
			max_ms = reps[i].max_ms;
	}
	T_CHECK_INT(failures, 0);
	get_str(s, "counter", buf, sizeof(buf));
	T_CHECK_STR(buf, "8000");
	printf("  %d processes x %d increments: %.2f s, max latency of one increment %.1f ms, "
	       "%d conflicts retried\n",
	       PROCS, INCREMENTS, (now_ms() - t0) / 1e3, max_ms, conflicts);
}

static void race_child(int i, const struct fixture *f, struct child_report *r)
{
	struct bip_store *s = child_open(f, r);
	char key[32], val[32];

	snprintf(val, sizeof(val), "child-%d", i);
	for (int k = 0; s && k < RACE_KEYS; k++) {
		struct bip_cmp cmp = {key, 0};
		struct bip_op op = {BIP_OP_PUT, key, val, strlen(val)};
		int rc;

		snprintf(key, sizeof(key), "race/%03d", k);
		rc = bip_store_txn(s, &cmp, 1, &op, 1, NULL);
		if (rc == BIP_OK)
			r->won[k] = 1;
		else if (rc != BIP_ECONFLICT)
			r->failures++;
	}
	bip_store_close(s);
}

static void case_create_race(struct bip_store *s, const struct fixture *f)
{
	struct child_report reps[PROCS] = {0};
	int failures = 0;

	T_REQUIRE(run_children(f, PROCS, race_child, reps) == 0, "children failed");
	for (int i = 0; i < PROCS; i++)
		failures += reps[i].failures;
	T_CHECK_INT(failures, 0);
	for (int k = 0; k < RACE_KEYS; k++) {
		char key[32], got[32], want[32];
		int wins = 0, winner = -1;

		for (int i = 0; i < PROCS; i++)
			if (reps[i].won[k]) {
				wins++;
				winner = i;
			}
		T_CHECK(wins == 1, "key %d created %d times", k, wins);
		snprintf(key, sizeof(key), "race/%03d", k);
		snprintf(want, sizeof(want), "child-%d", winner);
		get_str(s, key, got, sizeof(got));
		T_CHECK(strcmp(got, want) == 0, "%s is '%s', want '%s'", key, got, want);
	}
}

/* Writers commit while the parent lists: each list's revision covers every entry it returns. */
/* Collect the writer processes that have exited (each must have succeeded); how many still run. */
static int reap_writers(pid_t *pids, int n)
{
	int running = 0;

	for (int w = 0; w < n; w++) {
		int st;

		if (pids[w] < 0)
			continue;
		if (waitpid(pids[w], &st, WNOHANG) == 0) {
			running++;
			continue;
		}
		T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed", w);
		pids[w] = -1;
	}
	return running;
}

static void case_list_snapshot(struct bip_store *s, const struct fixture *f)
{
	enum { WRITERS = 2, PUTS = 3000 };
	pid_t pids[WRITERS];
	int lists = 0, running = WRITERS, bad = 0;

	fflush(stdout);
	fflush(stderr);
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			struct child_report r = {0};
			struct bip_store *ws = child_open(f, &r);
			char key[32];

			for (int n = 0; ws && n < PUTS; n++) {
				snprintf(key, sizeof(key), "snap/%d/%02d", w, n % 50);
				if (put(ws, key, "v", NULL) != BIP_OK)
					r.failures++;
			}
			bip_store_close(ws);
			_exit(r.failures ? 1 : 0);
		}
		T_REQUIRE(pids[w] > 0);
	}
	while (running > 0) {
		struct bip_kvs kvs = {0};

		if (bip_store_list(s, "snap/", 0, &kvs) == BIP_OK) {
			for (size_t i = 0; i < kvs.n; i++)
				if (kvs.v[i].rev > kvs.rev)
					bad++;
			lists++;
		} else {
			bad++;
		}
		bip_kvs_free(&kvs);
		running = reap_writers(pids, WRITERS);
	}
	T_CHECK(bad == 0, "%d entries newer than their list's revision (%d lists)", bad, lists);
}

/* ---- batch reads (bip_store_read) ---- */

/* Keys of kvs joined with '|', each as key=value (key alone when keys only). */
static void join_kvs(const struct bip_kvs *kvs, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < kvs->n; i++)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s%s%s",
					i ? "|" : "", kvs->v[i].key, kvs->v[i].len ? "=" : "",
					(const char *)kvs->v[i].value);
}

static void case_read_mixed(struct bip_store *s, const struct fixture *f)
{
	static const struct {
		const char *k, *v;
	} data[] = {
	    {"rd/a", "A"},	 {"rd/b", "B"},	  {"rd/p/1", "p1"}, {"rd/p/2", "p2"},
	    {"rd/p/3/x", "p3x"}, {"rd/pq", "pq"}, {"rd/q/1", "q1"},
	};
	static const struct {
		struct bip_read r;
		const char *want;
	} rows[] = {
	    {{"rd/a", false, 0}, "rd/a=A"},
	    {{"rd/missing", false, 0}, ""},
	    {{"rd/p/", true, 0}, "rd/p/1=p1|rd/p/2=p2|rd/p/3/x=p3x"},
	    {{"rd/p/", true, BIP_LIST_KEYS_ONLY}, "rd/p/1|rd/p/2|rd/p/3/x"},
	    {{"rd/b", false, BIP_LIST_KEYS_ONLY}, "rd/b"},
	    {{"rd/none/", true, 0}, ""},
	    {{"rd/p", true, 0}, "rd/p/1=p1|rd/p/2=p2|rd/p/3/x=p3x|rd/pq=pq"},
	    {{"rd/a", false, 0}, "rd/a=A"},
	    {{"rd/p/1", false, 0}, "rd/p/1=p1"},
	    {{"rd/p/3", false, 0}, ""}, /* a key is not a prefix */
	};
	struct bip_read reads[LEN(rows)];
	struct bip_kvs out[LEN(rows)];
	int64_t revs[LEN(data)], rev = -1;
	char got[256];

	(void)f;
	for (size_t i = 0; i < LEN(data); i++)
		T_REQUIRE(put(s, data[i].k, data[i].v, &revs[i]) == BIP_OK);
	for (size_t i = 0; i < LEN(rows); i++)
		reads[i] = rows[i].r;
	memset(out, 0, sizeof(out));
	T_REQUIRE(bip_store_read(s, reads, LEN(rows), out, &rev) == BIP_OK, "%s",
		  bip_store_errmsg(s));
	T_CHECK_INT(rev, revs[LEN(data) - 1]);
	T_CHECK_INT(rev, store_rev(s));
	for (size_t i = 0; i < LEN(rows); i++) {
		join_kvs(&out[i], got, sizeof(got));
		T_CHECK(strcmp(got, rows[i].want) == 0, "read %zu ('%s'): got '%s', want '%s'", i,
			rows[i].r.key, got, rows[i].want);
		T_CHECK_INT(out[i].rev, rev);
		for (size_t k = 0; k < out[i].n; k++) {
			const struct bip_kv *kv = &out[i].v[k];

			for (size_t d = 0; d < LEN(data); d++)
				if (strcmp(kv->key, data[d].k) == 0)
					T_CHECK(kv->rev == revs[d],
						"'%s' at %" PRId64 ", put at %" PRId64, kv->key,
						kv->rev, revs[d]);
			T_CHECK(kv->value[kv->len] == '\0', "'%s' not NUL-terminated", kv->key);
		}
		bip_kvs_free(&out[i]);
	}
	/* One entry alone, and without asking for the revision. */
	T_CHECK_INT(bip_store_read(s, &reads[1], 1, out, NULL), BIP_OK);
	T_CHECK_INT(out[0].n, 0);
	bip_kvs_free(&out[0]);
}

static void case_read_large_value(struct bip_store *s, const struct fixture *f)
{
	size_t len = (1u << 20) + 7;
	unsigned char *v = malloc(len);
	struct bip_op ops[] = {{BIP_OP_PUT, "big/1", v, len}, {BIP_OP_PUT, "big/2", "small", 5}};
	struct bip_read reads[] = {
	    {"big/1", false, 0}, {"big/", true, 0}, {"big/", true, BIP_LIST_KEYS_ONLY}};
	struct bip_kvs out[3] = {0};
	uint32_t x = 777;

	(void)f;
	T_REQUIRE(v);
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (unsigned char)(x >> 16);
	}
	T_REQUIRE(bip_store_txn(s, NULL, 0, ops, 2, NULL) == BIP_OK);
	T_REQUIRE(bip_store_read(s, reads, 3, out, NULL) == BIP_OK, "%s", bip_store_errmsg(s));
	T_CHECK(out[0].n == 1 && out[0].v[0].len == len && memcmp(out[0].v[0].value, v, len) == 0,
		"the 1 MB value by key");
	T_CHECK(out[1].n == 2 && out[1].v[0].len == len && memcmp(out[1].v[0].value, v, len) == 0 &&
		    out[1].v[1].len == 5,
		"the 1 MB value by prefix");
	T_CHECK(out[2].n == 2 && out[2].v[0].len == 0 && out[2].v[1].len == 0, "keys only");
	for (int i = 0; i < 3; i++)
		bip_kvs_free(&out[i]);
	free(v);
}

/* A prefix of more entries than a backend answers at once (etcd: pages of 1000). */
static void case_read_many_keys(struct bip_store *s, const struct fixture *f)
{
	enum { N = 2500 };
	struct bip_op *ops = calloc(N, sizeof(*ops));
	char(*keys)[24] = calloc(N, sizeof(*keys));
	struct bip_read reads[] = {
	    {"m/", true, 0}, {"m/01000", false, 0}, {"m/", true, BIP_LIST_KEYS_ONLY}};
	struct bip_kvs out[3] = {0};
	int64_t rev = 0, got = 0;

	(void)f;
	T_REQUIRE(ops && keys);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "m/%05d", i);
		ops[i] = (struct bip_op){BIP_OP_PUT, keys[i], keys[i], strlen(keys[i])};
	}
	T_REQUIRE(bip_store_txn(s, NULL, 0, ops, N, &rev) == BIP_OK);
	T_REQUIRE(bip_store_read(s, reads, 3, out, &got) == BIP_OK, "%s", bip_store_errmsg(s));
	T_CHECK_INT(got, rev);
	T_CHECK_INT(out[0].n, N);
	T_CHECK_INT(out[1].n, 1);
	T_CHECK_INT(out[2].n, N);
	for (size_t i = 0; i < out[0].n && i < N; i++) {
		T_CHECK(strcmp(out[0].v[i].key, keys[i]) == 0 &&
			    strcmp((char *)out[0].v[i].value, keys[i]) == 0,
			"entry %zu is '%s'", i, out[0].v[i].key);
		T_CHECK(i >= out[2].n || strcmp(out[2].v[i].key, keys[i]) == 0, "key %zu", i);
		if (t_failed_checks > 10)
			break;
	}
	for (int i = 0; i < 3; i++)
		bip_kvs_free(&out[i]);
	free(ops);
	free(keys);
}

static void case_read_bad(struct bip_store *s, const struct fixture *f)
{
	static char longkey[BIP_KEY_MAX + 2];
	static struct bip_read many[BIP_READ_MAX + 1];
	static struct bip_kvs out[BIP_READ_MAX + 1];
	struct bip_read empty = {"", false, 0}, all = {"", true, 0}, toolong = {longkey, false, 0},
			null_key = {NULL, false, 0};
	struct bip_read mixed[] = {{"k", false, 0}, {longkey, true, 0}};
	int64_t rev = -7;

	(void)f;
	memset(longkey, 'k', BIP_KEY_MAX + 1);
	T_REQUIRE(put(s, "k", "v", NULL) == BIP_OK);
	for (size_t i = 0; i <= BIP_READ_MAX; i++)
		many[i] = (struct bip_read){"k", false, 0};
	out[0] = (struct bip_kvs){.n = 99};
	T_CHECK_INT(bip_store_read(s, many, 0, out, &rev), BIP_EINVAL);
	T_CHECK_INT(bip_store_read(s, many, BIP_READ_MAX + 1, out, &rev), BIP_EINVAL);
	T_CHECK_INT(bip_store_read(s, &empty, 1, out, &rev), BIP_EINVAL);
	T_CHECK_INT(bip_store_read(s, &toolong, 1, out, &rev), BIP_EINVAL);
	T_CHECK_INT(bip_store_read(s, &null_key, 1, out, &rev), BIP_EINVAL);
	T_CHECK_INT(bip_store_read(s, mixed, 2, out, &rev), BIP_EINVAL);
	T_CHECK(out[0].n == 99 && rev == -7, "out written on failure");
	/* BIP_READ_MAX entries are fine; so is the empty prefix (every key). */
	T_CHECK_INT(bip_store_read(s, many, BIP_READ_MAX, out, &rev), BIP_OK);
	for (size_t i = 0; i < BIP_READ_MAX; i++) {
		T_CHECK(out[i].n == 1 && out[i].rev == rev, "entry %zu", i);
		bip_kvs_free(&out[i]);
	}
	T_CHECK_INT(bip_store_read(s, &all, 1, out, &rev), BIP_OK);
	T_CHECK_INT(out[0].n, 1);
	bip_kvs_free(&out[0]);
}

/*
 * Writers commit rs/a, rs/l/0..2 and rs/b together, each time with a new value, while the
 * parent reads them in batches: every batch must show one txn's values everywhere.
 */
static void case_read_snapshot(struct bip_store *s, const struct fixture *f)
{
	enum { WRITERS = 2, PUTS = 1500 };
	struct bip_read reads[] = {{"rs/a", false, 0}, {"rs/l/", true, 0}, {"rs/b", false, 0}};
	pid_t pids[WRITERS];
	int batches = 0, busy = 0, running = WRITERS, bad = 0;

	fflush(stdout);
	fflush(stderr);
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			struct child_report r = {0};
			struct bip_store *ws = child_open(f, &r);

			for (int n = 0; ws && n < PUTS; n++) {
				char v[32];
				size_t len = (size_t)snprintf(v, sizeof(v), "%d-%d", w, n);
				struct bip_op ops[] = {
				    {BIP_OP_PUT, "rs/a", v, len},   {BIP_OP_PUT, "rs/l/0", v, len},
				    {BIP_OP_PUT, "rs/l/1", v, len}, {BIP_OP_PUT, "rs/l/2", v, len},
				    {BIP_OP_PUT, "rs/b", v, len},
				};

				if (bip_store_txn(ws, NULL, 0, ops, LEN(ops), NULL) != BIP_OK)
					r.failures++;
			}
			bip_store_close(ws);
			_exit(r.failures ? 1 : 0);
		}
		T_REQUIRE(pids[w] > 0);
	}
	while (running > 0) {
		struct bip_kvs out[LEN(reads)] = {{0}};
		int64_t rev = 0;
		int rc = bip_store_read(s, reads, LEN(reads), out, &rev);

		if (rc == BIP_OK) {
			const char *v = out[0].n ? (const char *)out[0].v[0].value : "";
			bool same = out[2].n == out[0].n && out[1].n == 3 * out[0].n;

			for (size_t i = 0; same && i < out[1].n; i++)
				same = strcmp((const char *)out[1].v[i].value, v) == 0 &&
				       out[1].v[i].rev <= rev;
			same =
			    same && (!out[2].n || strcmp((const char *)out[2].v[0].value, v) == 0);
			bad += !same;
			batches++;
		} else if (rc == BIP_EAGAIN) {
			busy++; /* the fallback met a change in every try */
		} else {
			bad++;
		}
		for (size_t i = 0; i < LEN(reads); i++)
			bip_kvs_free(&out[i]);
		running = reap_writers(pids, WRITERS);
	}
	T_CHECK(bad == 0, "%d batches not one snapshot (%d read, %d gave up)", bad, batches, busy);
	T_CHECK(batches > 0, "no batch read while the writers ran (%d gave up)", busy);
	printf("  %d batches read during %d txns, %d gave up (BIP_EAGAIN)\n", batches,
	       WRITERS * PUTS, busy);
}

struct conf_case {
	const char *name;
	void (*fn)(struct bip_store *s, const struct fixture *f);
};

static const struct conf_case conf_cases[] = {
	{"get_absent", case_get_absent},
	{"create_if_absent", case_create_if_absent},
	{"compare_and_swap", case_compare_and_swap},
	{"all_or_nothing", case_all_or_nothing},
	{"puts_and_deletes", case_puts_and_deletes},
	{"delete_absent", case_delete_absent},
	{"list_prefix", case_list_prefix},
	{"list_empty_store", case_list_empty_store},
	{"list_keys_only", case_list_keys_only},
	{"revisions_grow", case_revisions_grow},
	{"binary_values", case_binary_values},
	{"large_value", case_large_value},
	{"compares_only", case_compares_only},
	{"many_keys", case_many_keys},
	{"list_stops", case_list_stops},
	{"bad_requests", case_bad_requests},
	{"counter_processes", case_counter_processes},
	{"create_race", case_create_race},
	{"list_snapshot", case_list_snapshot},
	{"read_mixed", case_read_mixed},
	{"read_large_value", case_read_large_value},
	{"read_many_keys", case_read_many_keys},
	{"read_bad", case_read_bad},
	{"read_snapshot", case_read_snapshot},
};

struct conf_run {
	const struct backend *b;
	const struct conf_case *c;
};

/* A store that forwards everything but the batch read to another. */
struct no_read_store {
	struct bip_store base;
	struct bip_store *inner;
};

static struct bip_store *nr_inner(struct bip_store *s)
{
	return ((struct no_read_store *)s)->inner;
}

static int nr_get(struct bip_store *s, const char *key, struct bip_kv *out)
{
	return bip_store_get(nr_inner(s), key, out);
}

static int nr_list(struct bip_store *s, const char *prefix, unsigned flags, bip_list_fn fn,
		   void *ctx, int64_t *rev)
{
	return bip_store_list_cb(nr_inner(s), prefix, flags, fn, ctx, rev);
}

static int nr_txn(struct bip_store *s, const struct bip_cmp *cmps, size_t ncmp,
		  const struct bip_op *ops, size_t nop, int64_t *rev)
{
	return bip_store_txn(nr_inner(s), cmps, ncmp, ops, nop, rev);
}

static void nr_close(struct bip_store *s)
{
	bip_store_close(nr_inner(s));
	free(s);
}

static const struct bip_store_ops no_read_ops = {
	.name = "no-read",
	.get = nr_get,
	.list = nr_list,
	.txn = nr_txn,
	.close = nr_close,
};

static void run_conformance(void)
{
	const struct conf_run *r = t_arg;
	struct fixture f = {0};
	struct bip_store *s = NULL;
	char err[512] = "";
	int rc;

	T_REQUIRE(r->b->make(&f) == 0, "cannot make a fresh %s store: %s", r->b->name,
		  strerror(errno));
	rc = bip_store_open(f.addr, &f.opts, &s, err, sizeof(err));
	T_CHECK(rc == BIP_OK, "open %s: %s: %s", f.addr, bip_errname(rc), err);
	if (rc == BIP_OK && r->b->generic_read) {
		struct no_read_store *w = calloc(1, sizeof(*w));

		T_REQUIRE(w != NULL);
		w->base.ops = &no_read_ops;
		w->inner = s;
		s = &w->base;
	}
	if (rc == BIP_OK) {
		r->c->fn(s, &f);
		bip_store_close(s);
	}
	r->b->destroy(&f);
}

static void skip_backend(void)
{
	const struct backend *b = t_arg;

	T_SKIP(b->unavailable());
}

/* ---- SQLite only ---- */

/* tmpl with its "%s" (if any) replaced by dir. */
static void subst(char *out, size_t len, const char *tmpl, const char *dir)
{
	const char *p = strstr(tmpl, "%s");

	if (p)
		snprintf(out, len, "%.*s%s%s", (int)(p - tmpl), tmpl, dir, p + 2);
	else
		snprintf(out, len, "%s", tmpl);
}

static int open_at(const char *dir, const char *tmpl, bool read_only, struct bip_store **s,
		   char *err, size_t errlen)
{
	struct bip_store_opts opts = {.read_only = read_only};
	char addr[PATH_MAX];

	subst(addr, sizeof(addr), tmpl, dir);
	return bip_store_open(addr, &opts, s, err, errlen);
}

/* A store holding one key, closed. */
static void setup_store(const char *dir)
{
	struct bip_store *s = NULL;
	char err[256];

	if (open_at(dir, "sqlite://%s/ipam.db", false, &s, err, sizeof(err)) == BIP_OK) {
		put(s, "k", "v", NULL);
		bip_store_close(s);
	}
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		(void)!write(fd, data, len);
		close(fd);
	}
}

static void setup_corrupt(const char *dir)
{
	unsigned char buf[16384];
	uint32_t x = 99;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(x >> 24);
	}
	write_file(dir, "ipam.db", buf, sizeof(buf));
}

static void setup_text(const char *dir)
{
	write_file(dir, "ipam.db", "pools: {}\n", 10);
}

static void sqlite_exec_at(const char *dir, const char *sql)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	if (sqlite3_open(path, &db) == SQLITE_OK)
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
}

static void setup_newer(const char *dir)
{
	setup_store(dir);
	sqlite_exec_at(dir, "PRAGMA user_version = 99");
}

static void setup_foreign(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	sqlite_exec_at(dir, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
}

static void setup_world_dir(const char *dir)
{
	chmod(dir, 0777);
}

static void setup_sticky_dir(const char *dir)
{
	chmod(dir, 01777);
}

static void setup_group_file(const char *dir)
{
	char path[PATH_MAX];

	setup_store(dir);
	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	chmod(path, 0660);
}

static void setup_group_lock(const char *dir)
{
	char path[PATH_MAX];

	setup_store(dir);
	snprintf(path, sizeof(path), "%s/ipam.db.lock", dir);
	chmod(path, 0620);
}

static void setup_subdir(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	mkdir(path, 0700);
}

static void setup_symlink(const char *dir)
{
	char path[PATH_MAX], target[PATH_MAX];

	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	snprintf(target, sizeof(target), "%s/real.db", dir);
	(void)!symlink(target, path);
}

static void setup_symlink_lock(const char *dir)
{
	char path[PATH_MAX], target[PATH_MAX];

	setup_store(dir);
	snprintf(path, sizeof(path), "%s/ipam.db.lock", dir);
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	unlink(path);
	(void)!symlink(target, path);
}

/*
 * Bad addresses and files. In addr and msg "%s" is the row's temporary directory; files is
 * what that directory holds afterwards: nothing is created that should not be.
 */
static const struct bad_open {
	const char *name;
	void (*setup)(const char *dir);
	const char *addr;
	bool read_only;
	int want;
	const char *msg;
	const char *files;
} bad_opens[] = {
	{"empty address", NULL, "", false, BIP_EINVAL, "empty store address", ""},
	{"unknown scheme", NULL, "foo://x", false, BIP_EINVAL, "'foo://x': unknown scheme", ""},
	{"relative sqlite path", NULL, "sqlite://ipam.db", false, BIP_EINVAL,
	 "'sqlite://ipam.db'", ""},
	{"relative bare path", NULL, "ipam.db", false, BIP_EINVAL, "'ipam.db'", ""},
	{"missing directory", NULL, "sqlite://%s/missing/ipam.db", false, BIP_ENOTFOUND,
	 "'%s/missing'", ""},
	{"missing directories", NULL, "%s/a/b/ipam.db", false, BIP_ENOTFOUND, "'%s/a/b'", ""},
	{"directory path", NULL, "sqlite://%s/", false, BIP_EINVAL, "'%s/'", ""},
	{"path is a directory", setup_subdir, "sqlite://%s/ipam.db", false, BIP_EINVAL,
	 "'%s/ipam.db'", "ipam.db"},
	{"corrupt file", setup_corrupt, "sqlite://%s/ipam.db", false, BIP_ECORRUPT,
	 "'%s/ipam.db' is not a SQLite database", "ipam.db"},
	{"corrupt file, read-only", setup_corrupt, "sqlite://%s/ipam.db", true, BIP_ECORRUPT,
	 "'%s/ipam.db' is not a SQLite database", "ipam.db"},
	{"text file", setup_text, "sqlite://%s/ipam.db", false, BIP_ECORRUPT,
	 "'%s/ipam.db' is not a SQLite database", "ipam.db"},
	{"newer schema", setup_newer, "sqlite://%s/ipam.db", false, BIP_ESCHEMA,
	 "'%s/ipam.db' has schema version 99", "ipam.db ipam.db.lock"},
	{"newer schema, read-only", setup_newer, "sqlite://%s/ipam.db", true, BIP_ESCHEMA,
	 "schema version 99", "ipam.db ipam.db.lock"},
	{"foreign database", setup_foreign, "sqlite://%s/ipam.db", false, BIP_ECORRUPT,
	 "'%s/ipam.db' is a SQLite database but not a blockipam store", "ipam.db"},
	{"foreign database, read-only", setup_foreign, "sqlite://%s/ipam.db", true, BIP_ECORRUPT,
	 "not a blockipam store", "ipam.db"},
	{"world-writable directory", setup_world_dir, "sqlite://%s/ipam.db", false, BIP_EPERM,
	 "'%s' is world-writable", ""},
	{"sticky world-writable directory", setup_sticky_dir, "sqlite://%s/ipam.db", false,
	 BIP_EPERM, "'%s' is world-writable", ""},
	{"group-writable file", setup_group_file, "sqlite://%s/ipam.db", false, BIP_EPERM,
	 "'%s/ipam.db' is group- or world-writable", "ipam.db ipam.db.lock"},
	{"group-writable lock file", setup_group_lock, "sqlite://%s/ipam.db", false, BIP_EPERM,
	 "'%s/ipam.db.lock' is group- or world-writable", "ipam.db ipam.db.lock"},
	{"symlinked file", setup_symlink, "sqlite://%s/ipam.db", false, BIP_EPERM,
	 "'%s/ipam.db' is a symbolic link", "ipam.db"},
	{"symlinked lock file", setup_symlink_lock, "sqlite://%s/ipam.db", false, BIP_EPERM,
	 "'%s/ipam.db.lock' is a symbolic link", "ipam.db ipam.db.lock"},
	{"read-only, missing file", NULL, "sqlite://%s/ipam.db", true, BIP_ENOTFOUND,
	 "'%s/ipam.db' does not exist", ""},
	{"read-only, missing directory", NULL, "sqlite://%s/nope/ipam.db", true, BIP_ENOTFOUND,
	 "'%s/nope'", ""},
};

static void test_sqlite_bad_open(void)
{
	char cwd[PATH_MAX];

	T_REQUIRE(getcwd(cwd, sizeof(cwd)));
	for (size_t i = 0; i < LEN(bad_opens); i++) {
		const struct bad_open *b = &bad_opens[i];
		struct bip_store *s = NULL;
		char dir[TMPDIR_LEN], err[512] = "", msg[PATH_MAX + 128], files[512];
		int rc;

		T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
		if (b->setup)
			b->setup(dir);
		/* Relative paths resolve here: nothing may appear in the directory. */
		T_REQUIRE(chdir(dir) == 0);
		rc = open_at(dir, b->addr, b->read_only, &s, err, sizeof(err));
		T_REQUIRE(chdir(cwd) == 0);
		subst(msg, sizeof(msg), b->msg, dir);
		T_CHECK(rc == b->want, "%s: got %s, want %s (%s)", b->name, bip_errname(rc),
			bip_errname(b->want), err);
		T_CHECK(strstr(err, msg), "%s: message '%s' lacks '%s'", b->name, err, msg);
		T_CHECK(s == NULL, "%s: out written on failure", b->name);
		dir_entries(dir, files, sizeof(files));
		T_CHECK(strcmp(files, b->files) == 0, "%s: directory holds '%s', want '%s'",
			b->name, files, b->files);
		if (rc == BIP_OK)
			bip_store_close(s);
		rm_tree(dir);
	}
}

static void test_sqlite_direct_relative(void)
{
	struct bip_store *s = NULL;
	char err[256] = "";

	T_CHECK_INT(bip_sqlite_open("ipam.db", NULL, &s, err, sizeof(err)), BIP_EINVAL);
	T_CHECK(strstr(err, "'ipam.db'"), "message '%s'", err);
	T_CHECK(access("ipam.db", F_OK) != 0, "ipam.db created in the working directory");
}

/* Unreadable file: root ignores permission bits, so as root the open runs as nobody. */
static void test_sqlite_unreadable(void)
{
	char dir[TMPDIR_LEN], path[PATH_MAX], files[256];
	pid_t pid;
	int st = 0;

	T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
	setup_store(dir);
	snprintf(path, sizeof(path), "%s/ipam.db", dir);
	chmod(path, 0);
	chmod(dir, 0755); /* nobody may enter, not write */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		struct bip_store *s = NULL;
		char err[512] = "";
		int rc;

		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(77);
		rc = open_at(dir, "sqlite://%s/ipam.db", false, &s, err, sizeof(err));
		T_CHECK(rc == BIP_EPERM, "got %s (%s)", bip_errname(rc), err);
		T_CHECK(strstr(err, path) && strstr(err, "Permission denied"), "message '%s'",
			err);
		rc = open_at(dir, "sqlite://%s/ipam.db", true, &s, err, sizeof(err));
		T_CHECK(rc == BIP_EPERM, "read-only: got %s (%s)", bip_errname(rc), err);
		fflush(stderr);
		_exit(t_failed_checks ? 1 : 0);
	}
	T_REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid);
	dir_entries(dir, files, sizeof(files));
	rm_tree(dir);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		T_SKIP("running as root and cannot switch to uid 65534: unreadable file NOT "
		       "tested");
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	T_CHECK_STR(files, "ipam.db ipam.db.lock");
}

static mode_t file_mode(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static long long file_size(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		return -1;
	return (long long)st.st_size;
}

/* New files are 0600 whatever the umask, -wal and -shm included. */
static void test_sqlite_new_file_modes(void)
{
	struct bip_store *s = NULL;
	char dir[TMPDIR_LEN], err[256] = "";
	mode_t old = umask(0);
	int rc;

	T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
	rc = open_at(dir, "sqlite://%s/ipam.db", false, &s, err, sizeof(err));
	umask(old);
	T_REQUIRE(rc == BIP_OK, "%s", err);
	T_CHECK_INT(put(s, "k", "v", NULL), BIP_OK);
	T_CHECK_INT(file_mode(dir, "ipam.db"), 0600);
	T_CHECK_INT(file_mode(dir, "ipam.db.lock"), 0600);
	T_CHECK_INT(file_mode(dir, "ipam.db-wal"), 0600);
	T_CHECK_INT(file_mode(dir, "ipam.db-shm"), 0600);
	T_CHECK_INT(file_mode(dir, "."), 0700); /* untouched */
	bip_store_close(s);
	rm_tree(dir);
}

static void test_sqlite_read_only(void)
{
	struct bip_store *s = NULL, *w = NULL;
	char dir[TMPDIR_LEN], err[256] = "", buf[16], files[256];
	struct bip_kvs kvs = {0};

	T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
	setup_store(dir);
	T_REQUIRE(open_at(dir, "sqlite://%s/ipam.db", true, &s, err, sizeof(err)) == BIP_OK,
		  "%s", err);
	T_CHECK(get_str(s, "k", buf, sizeof(buf)) > 0, "get");
	T_CHECK_STR(buf, "v");
	T_CHECK_INT(bip_store_list(s, "", 0, &kvs), BIP_OK);
	T_CHECK_INT(kvs.n, 1);
	bip_kvs_free(&kvs);
	T_CHECK_INT(put(s, "k2", "v", NULL), BIP_EPERM);
	/* A writer alongside: the reader sees its commits. */
	T_REQUIRE(open_at(dir, "sqlite://%s/ipam.db", false, &w, err, sizeof(err)) == BIP_OK);
	T_CHECK_INT(put(w, "k3", "v3", NULL), BIP_OK);
	T_CHECK(get_str(s, "k3", buf, sizeof(buf)) > 0, "reader sees the writer's commit");
	bip_store_close(w);
	bip_store_close(s);
	dir_entries(dir, files, sizeof(files));
	T_CHECK_STR(files, "ipam.db ipam.db.lock");

	/* A file that no writer has initialised yet reads as an empty store and stays empty. */
	rm_tree(dir);
	T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
	write_file(dir, "ipam.db", "", 0);
	T_REQUIRE(open_at(dir, "sqlite://%s/ipam.db", true, &s, err, sizeof(err)) == BIP_OK,
		  "%s", err);
	T_CHECK_INT(get_str(s, "k", buf, sizeof(buf)), 0);
	T_CHECK_INT(bip_store_list(s, "", 0, &kvs), BIP_OK);
	T_CHECK_INT(kvs.n, 0);
	bip_kvs_free(&kvs);
	bip_store_close(s);
	dir_entries(dir, files, sizeof(files));
	T_CHECK_STR(files, "ipam.db");
	T_CHECK_INT(file_size(dir, "ipam.db"), 0); /* no schema written */
	rm_tree(dir);
}

/* A list callback may read the store; a txn or a nested list from inside it is refused. */
static int reenter(void *ctx, const struct bip_kv *kv)
{
	struct bip_store *s = ctx;
	struct bip_kv got = {0};
	struct bip_kvs kvs = {0};
	int rc = bip_store_get(s, kv->key, &got);

	bip_kv_clear(&got);
	if (rc != BIP_OK)
		return 100 + rc;
	if (put(s, "other", "v", NULL) != BIP_EINVAL)
		return 200;
	if (bip_store_list(s, "", 0, &kvs) != BIP_EINVAL)
		return 300;
	return 0;
}

static void test_sqlite_list_reentry(void)
{
	struct bip_store *s = NULL;
	char dir[TMPDIR_LEN], err[256] = "";

	T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
	T_REQUIRE(open_at(dir, "sqlite://%s/ipam.db", false, &s, err, sizeof(err)) == BIP_OK);
	T_CHECK_INT(put(s, "k", "v", NULL), BIP_OK);
	T_CHECK_INT(bip_store_list_cb(s, "", 0, reenter, s, NULL), BIP_OK);
	T_CHECK_INT(put(s, "k2", "v", NULL), BIP_OK);
	bip_store_close(s);
	rm_tree(dir);
}

static void first_open_child(int i, const struct fixture *f, struct child_report *r)
{
	struct bip_store *s = child_open(f, r);
	char key[16];

	snprintf(key, sizeof(key), "k/%d", i);
	if (s && put(s, key, "v", NULL) != BIP_OK)
		r->failures++;
	bip_store_close(s);
}

/* Processes that open a new file together: one writes the schema, none fails. */
static void test_sqlite_first_open_race(void)
{
	for (int round = 0; round < 20; round++) {
		struct child_report reps[PROCS] = {0};
		struct bip_store *s = NULL;
		struct bip_kvs kvs = {0};
		struct fixture f = {0};
		int failures = 0;

		T_REQUIRE(sqlite_make(&f) == 0);
		T_CHECK(run_children(&f, PROCS, first_open_child, reps) == 0, "children failed");
		for (int i = 0; i < PROCS; i++)
			failures += reps[i].failures;
		T_CHECK(failures == 0, "round %d: %d failures", round, failures);
		if (bip_store_open(f.addr, NULL, &s, NULL, 0) == BIP_OK) {
			T_CHECK_INT(bip_store_list(s, "k/", 0, &kvs), BIP_OK);
			T_CHECK_INT(kvs.n, PROCS);
			bip_kvs_free(&kvs);
			bip_store_close(s);
		}
		sqlite_destroy(&f);
		if (t_failed_checks)
			return;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* What one plugin exec pays for the store: open, one get, one txn, close (no exec); with a
 * long-lived handle's close (checkpoint) and with the plugin's short-lived one. */
static void test_sqlite_exec_cost(void)
{
	enum { RUNS = 300 };
	static double ms[RUNS];
	char dir[TMPDIR_LEN], err[256] = "";

	for (int mode = 0; mode < 2; mode++) {
		struct bip_store_opts opts = {.short_lived = mode == 1};
		char addr[PATH_MAX];

		T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
		setup_store(dir);
		snprintf(addr, sizeof(addr), "sqlite://%s/ipam.db", dir);
		for (int i = 0; i < RUNS; i++) {
			struct bip_store *s = NULL;
			char key[32], buf[16];
			double t0 = now_ms();
			int rc;

			rc = bip_store_open(addr, &opts, &s, err, sizeof(err));
			T_REQUIRE(rc == BIP_OK, "%s", err);
			get_str(s, "k", buf, sizeof(buf));
			snprintf(key, sizeof(key), "ips/%d", i);
			struct bip_cmp cmp = {key, 0};
			struct bip_op op = {BIP_OP_PUT, key, "ctr", 3};
			T_CHECK_INT(bip_store_txn(s, &cmp, 1, &op, 1, NULL), BIP_OK);
			bip_store_close(s);
			ms[i] = now_ms() - t0;
		}
		qsort(ms, RUNS, sizeof(ms[0]), cmp_double);
		printf("  open+get+txn+close, %s, %d runs: median %.3f ms, p90 %.3f ms, "
		       "max %.3f ms\n",
		       mode ? "short-lived" : "long-lived", RUNS, ms[RUNS / 2], ms[RUNS * 9 / 10],
		       ms[RUNS - 1]);
		rm_tree(dir);
	}
}

static int open_short(const char *dir, struct bip_store **s)
{
	struct bip_store_opts opts = {.short_lived = true};
	char addr[PATH_MAX], err[256] = "";
	int rc;

	snprintf(addr, sizeof(addr), "sqlite://%s/ipam.db", dir);
	rc = bip_store_open(addr, &opts, s, err, sizeof(err));
	T_CHECK(rc == BIP_OK, "%s", err);
	return rc;
}

/* The WAL's size in pages, however many frames it holds (a frame is a 24-byte header + page). */
static long long wal_pages(const char *dir)
{
	long long n = file_size(dir, "ipam.db-wal");

	return n <= 32 ? 0 : (n - 32) / (4096 + 24);
}

struct hold_ctx {
	const char *dir;
	long long most;
	int puts;
};

/* From inside a list (its snapshot held): short-lived writers commit past the threshold. */
static int commit_while_reading(void *arg, const struct bip_kv *kv)
{
	struct hold_ctx *h = arg;

	(void)kv;
	if (h->puts)
		return 0;
	for (int i = 0; i < 100; i++) {
		struct bip_store *w = NULL;
		char key[32], val[1024];

		if (open_short(h->dir, &w) != BIP_OK)
			return 1;
		snprintf(key, sizeof(key), "held/%d", i);
		memset(val, 'x', sizeof(val) - 1);
		val[sizeof(val) - 1] = '\0';
		if (put(w, key, val, NULL) == BIP_OK)
			h->puts++;
		bip_store_close(w);
		if (wal_pages(h->dir) > h->most)
			h->most = wal_pages(h->dir);
	}
	return 0;
}

/*
 * Short-lived handles (the plugin) leave the WAL between processes and truncate it every 64
 * pages: it stays short however many of them come and go, nothing is lost, a reader holding an
 * old snapshot only delays the truncation, and the next long-lived close folds it all back.
 */
static void test_sqlite_short_lived(void)
{
	char dir[TMPDIR_LEN], buf[32], files[256];
	struct bip_store *s = NULL;
	struct bip_kvs kvs = {0};
	long long most = 0;
	struct hold_ctx h;

	T_REQUIRE(make_tmpdir(dir, sizeof(dir)) == 0);
	setup_store(dir);
	for (int i = 0; i < 2000; i++) {
		char key[32];

		if (open_short(dir, &s) != BIP_OK)
			break;
		snprintf(key, sizeof(key), "ips/%d", i);
		T_CHECK_INT(put(s, key, "ctr", NULL), BIP_OK);
		bip_store_close(s);
		if (wal_pages(dir) > most)
			most = wal_pages(dir);
	}
	dir_entries(dir, files, sizeof(files));
	T_CHECK_STR(files, "ipam.db ipam.db-shm ipam.db-wal ipam.db.lock");
	/* 64 pages, plus the pages of the one commit that crossed it. */
	T_CHECK(most >= 8 && most < 64 + 8, "the WAL reached %lld pages", most);
	printf("  2000 short-lived handles, one commit each: the WAL peaked at %lld pages\n", most);

	/* A reader's snapshot holds the log; its end lets the next commit truncate it. */
	h = (struct hold_ctx){dir, 0, 0};
	T_REQUIRE(open_at(dir, "sqlite://%s/ipam.db", true, &s, NULL, 0) == BIP_OK);
	T_CHECK_INT(bip_store_list_cb(s, "ips/", 0, commit_while_reading, &h, NULL), BIP_OK);
	bip_store_close(s);
	T_CHECK_INT(h.puts, 100);
	T_CHECK(h.most > 64, "the WAL under a reader reached only %lld pages", h.most);
	T_REQUIRE(open_short(dir, &s) == BIP_OK);
	T_CHECK_INT(put(s, "after", "reader", NULL), BIP_OK);
	bip_store_close(s);
	T_CHECK(wal_pages(dir) < 8, "the WAL still holds %lld pages after the reader", wal_pages(dir));

	/* Everything is there, and a long-lived close leaves the file alone, whole. */
	T_REQUIRE(open_at(dir, "sqlite://%s/ipam.db", false, &s, NULL, 0) == BIP_OK);
	T_CHECK_INT(bip_store_list(s, "ips/", BIP_LIST_KEYS_ONLY, &kvs), BIP_OK);
	T_CHECK_INT(kvs.n, 2000);
	bip_kvs_free(&kvs);
	T_CHECK_INT(bip_store_list(s, "held/", BIP_LIST_KEYS_ONLY, &kvs), BIP_OK);
	T_CHECK_INT(kvs.n, 100);
	bip_kvs_free(&kvs);
	T_CHECK(get_str(s, "after", buf, sizeof(buf)) > 0, "the last commit");
	bip_store_close(s);
	dir_entries(dir, files, sizeof(files));
	T_CHECK_STR(files, "ipam.db ipam.db.lock");
	rm_tree(dir);
}

/* The library never reads the process environment: the caller passes its BLOCKIPAM_STORE. */
static void test_store_addr_default(void)
{
	static const struct {
		const char *explicit_addr, *env_addr, *want;
	} rows[] = {
	    {"etcd://a:1", "etcd://b:2", "etcd://a:1"},
	    {"", "etcd://b:2", "etcd://b:2"},
	    {NULL, "etcd://b:2", "etcd://b:2"},
	    {NULL, "", BIP_STORE_DEFAULT},
	    {NULL, NULL, BIP_STORE_DEFAULT},
	};

	T_REQUIRE(setenv("BLOCKIPAM_STORE", "etcd://process-env:1", 1) == 0);
	for (size_t i = 0; i < LEN(rows); i++)
		T_CHECK_STR(bip_store_addr_default(rows[i].explicit_addr, rows[i].env_addr),
			    rows[i].want);
	unsetenv("BLOCKIPAM_STORE");
}

/* The one address grammar (bip_store_addr_check): what the plugin's config check and
 * bip_store_open both apply. */
static void test_store_addr_check(void)
{
	static const struct {
		const char *addr;
		bool ok;
		const char *msg;
	} rows[] = {
	    {"sqlite:///var/lib/blockipam/ipam.db", true, ""},
	    {"/var/lib/blockipam/ipam.db", true, ""},
	    {"etcd://127.0.0.1:2379", true, ""},
	    {"etcd://etcd-1", true, ""}, /* etcd's default port, as bip_etcd_open has it */
	    {"etcds://a:1,b,[::1]:2379,[fd00::1]", true, ""},
	    {"", false, "empty store address"},
	    {"ipam.db", false, "store address 'ipam.db': a path must be absolute"},
	    {"sqlite://ipam.db", false, "the sqlite path must be absolute"},
	    {"sqlite:///tmp/", false, "store address 'sqlite:///tmp/': '/tmp/' names a directory"},
	    {"sqlite:///tmp/a\nb.db", false, "control character in path"},
	    {"mysql://db", false, "store address 'mysql://db': unknown scheme"},
	    {"etcd://", false, "no endpoint"},
	    {"etcd://h:1,,h:2", false, "'etcd://h:1,,h:2': empty endpoint"},
	    {"etcd://h:1,", false, "empty endpoint"},
	    {"etcd://h:", false, "endpoint 'h:' is not host[:port]"},
	    {"etcd://h:99999", false, "endpoint 'h:99999'"},
	    {"etcd://h:0", false, "endpoint 'h:0'"},
	    {"etcd://h:-1", false, "endpoint 'h:-1'"},
	    {"etcd://a/b:1", false, "endpoint 'a/b:1'"},
	    {"etcd://[::1", false, "endpoint '[::1'"},
	    {"etcd://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", false, "more than 16 endpoints"},
	};

	for (size_t i = 0; i < LEN(rows); i++) {
		char err[512] = "";
		int rc = bip_store_addr_check(rows[i].addr, err, sizeof(err));

		T_CHECK(rows[i].ok ? rc == BIP_OK : rc == BIP_EINVAL, "'%s': rc %d (%s)",
			rows[i].addr, rc, err);
		T_CHECK(strstr(err, rows[i].msg) != NULL, "'%s': message '%s', want '%s'",
			rows[i].addr, err, rows[i].msg);
	}
}

static const struct t_case sqlite_tests[] = {
	T(test_store_addr_default),
	T(test_store_addr_check),
	T(test_sqlite_bad_open),
	T(test_sqlite_direct_relative),
	T(test_sqlite_unreadable),
	T(test_sqlite_new_file_modes),
	T(test_sqlite_read_only),
	T(test_sqlite_list_reentry),
	T(test_sqlite_first_open_race),
	T(test_sqlite_exec_cost),
	T(test_sqlite_short_lived),
};

int main(int argc, char **argv)
{
	enum { NB = LEN(backends), NC = LEN(conf_cases), NS = LEN(sqlite_tests) };
	static struct conf_run runs[NB * NC];
	static struct t_case cases[NB * NC + NS];
	static char names[NB * NC][64];
	size_t n = 0;

	for (size_t b = 0; b < NB; b++) {
		if (backends[b].unavailable && backends[b].unavailable()) {
			snprintf(names[n], sizeof(names[n]), "%s/*", backends[b].name);
			cases[n] = (struct t_case){names[n], skip_backend, &backends[b]};
			n++;
			continue;
		}
		for (size_t c = 0; c < NC; c++) {
			runs[n] = (struct conf_run){&backends[b], &conf_cases[c]};
			snprintf(names[n], sizeof(names[n]), "%s/%s", backends[b].name,
				 conf_cases[c].name);
			cases[n] = (struct t_case){names[n], run_conformance, &runs[n]};
			n++;
		}
	}
	for (size_t i = 0; i < NS; i++)
		cases[n++] = sqlite_tests[i];
	return t_run(argv[0], cases, n, argc, argv);
}
