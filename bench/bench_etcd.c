/*
 * The etcd backend's costs (numbers in bench/RESULTS-etcd.md):
 *
 *   bench_etcd none                 exit at once: the cost of exec'ing what is linked
 *   bench_etcd ADDR open            open and close only (for etcds://: loading OpenSSL and the
 *                                   certificates)
 *   bench_etcd ADDR once            open, one create-if-absent txn on a fresh key, close: what a
 *                                   plugin exec pays for its store round trip (run it under
 *                                   hyperfine -N)
 *   bench_etcd ADDR seq N           N sequential CAS txns on one key through one handle:
 *                                   txn/s, latency percentiles, connections made
 *
 * TLS: BIP_ETCD_CA, BIP_ETCD_CERT, BIP_ETCD_KEY give the files for an etcds:// ADDR.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../store/etcd/etcd.h"
#include "blockipam/err.h"
#include "blockipam/store.h"
#include "common/stats.h"

int main(int argc, char **argv)
{
	struct bip_store_opts o = {.prefix = "/blockipam-bench/",
				   .ca_file = getenv("BIP_ETCD_CA"),
				   .cert_file = getenv("BIP_ETCD_CERT"),
				   .key_file = getenv("BIP_ETCD_KEY")};
	struct bip_store *s = NULL;
	char err[256], key[64];
	int rc;

	if (argc == 2 && strcmp(argv[1], "none") == 0)
		return 0;
	if (argc < 3) {
		fprintf(stderr, "usage: %s none | ADDR open | ADDR once | ADDR seq N\n", argv[0]);
		return 2;
	}
	rc = bip_store_open(argv[1], &o, &s, err, sizeof(err));
	if (rc != BIP_OK) {
		fprintf(stderr, "open: %s: %s\n", bip_errname(rc), err);
		return 1;
	}
	if (strcmp(argv[2], "open") == 0) {
		rc = BIP_OK;
	} else if (strcmp(argv[2], "once") == 0) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		snprintf(key, sizeof(key), "once/%ld-%ld-%ld", (long)getpid(), (long)t.tv_sec,
			 t.tv_nsec);
		struct bip_cmp cmp = {key, 0};
		struct bip_op op = {BIP_OP_PUT, key, "ctr", 3};
		rc = bip_store_txn(s, &cmp, 1, &op, 1, NULL);
	} else if (strcmp(argv[2], "seq") == 0 && argc == 4) {
		int n = atoi(argv[3]);
		double *ms = calloc((size_t)(n > 0 ? n : 1), sizeof(*ms)), t0 = now_ms();
		struct bip__etcd_stats st;
		int64_t rev = 0;
		struct bip_kv kv = {0};

		snprintf(key, sizeof(key), "seq/%ld", (long)getpid());
		for (int i = 0; i < n && rc == BIP_OK; i++) {
			struct bip_cmp cmp = {key, rev};
			struct bip_op op = {BIP_OP_PUT, key, "v", 1};
			double t1 = now_ms();

			rc = bip_store_txn(s, &cmp, 1, &op, 1, &rev);
			ms[i] = now_ms() - t1;
		}
		double dt = now_ms() - t0;
		struct stats lat = stats_of(ms, n > 0 ? (size_t)n : 0);

		bip__etcd_stats(s, &st);
		if (rc == BIP_OK && n > 0)
			printf(
			    "%d CAS txns: %.0f txn/s; latency median %.3f ms, p90 %.3f, p99 %.3f, "
			    "max %.3f; %" PRIu64 " requests on %" PRIu64 " connection(s)\n",
			    n, n / (dt / 1e3), lat.med, lat.p90, lat.p99, lat.max, st.requests,
			    st.connects);
		free(ms);
		bip_kv_clear(&kv);
	} else {
		fprintf(stderr, "unknown mode '%s'\n", argv[2]);
		rc = BIP_EINVAL;
	}
	if (rc != BIP_OK)
		fprintf(stderr, "%s: %s\n", bip_errname(rc), bip_store_errmsg(s));
	bip_store_close(s);
	return rc == BIP_OK ? 0 : 1;
}
