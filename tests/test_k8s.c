/*
 * The Kubernetes document parser behind k8s sync and k8s watch (cli/k8s_doc.c), without a store:
 * what each kind of document becomes, which entry wins, when a kind counts as complete, what is
 * refused and how the refusal reads, lenient reading, slimming, durations. The store side is
 * tests/k8s.sh (real kubectl objects, SQLite and etcd) and tests/k8s_watch.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "../cli/k8s.h"
#include "../cli/manifest.h"
#include "t.h"

/* Parse text and describe the result: one word per entry ("N:n1/2/1/3" = node n1 with 2 pod
 * CIDRs, 1 address, 3 labels; "S:ns1=p1,10.0.0.0/16"; "P:ns/p@node#uid"; a trailing "-" for a
 * deleted entry, "!" for a refused placeholder), then the complete kinds ("full=NSP"). */
static char *describe(const char *text, unsigned full, bool lenient, int *rc, char *err,
		      size_t errlen)
{
	struct k8s_input in = {.lenient = lenient};
	json_t *docs = NULL;
	char *out = calloc(1, 4096);
	size_t n = 0;

	*rc = bip_manifest_parse(text, strlen(text), &docs, err, errlen);
	if (*rc == BIP_OK)
		*rc = k8s_input_add(&in, docs, full, err, errlen);
	if (*rc == BIP_OK && out) {
		k8s_input_finish(&in);
		for (size_t i = 0; i < in.n; i++) {
			const struct k8s_obj *o = &in.v[i];

			if (o->kind == K8S_NODE) {
				n += (size_t)snprintf(out + n, 4096 - n, "N:%s/%zu/%zu/%zu",
						      o->u.node.name, o->u.node.npod_cidrs,
						      o->u.node.naddrs, o->u.node.labels.n);
			} else if (o->kind == K8S_NAMESPACE) {
				n += (size_t)snprintf(out + n, 4096 - n, "S:%s=", o->u.ns.name);
				for (size_t j = 0; j < o->u.ns.npools; j++)
					n += (size_t)snprintf(out + n, 4096 - n, "%s%s",
							      j ? "," : "", o->u.ns.pools[j]);
			} else {
				n += (size_t)snprintf(out + n, 4096 - n, "P:%s/%s@%s#%s%s",
						      o->u.pod.ns, o->u.pod.name,
						      o->u.pod.node ? o->u.pod.node : "",
						      o->u.pod.uid ? o->u.pod.uid : "",
						      o->u.pod.finished ? "(done)" : "");
			}
			n += (size_t)snprintf(out + n, 4096 - n, "%s%s ", o->deleted ? "-" : "",
					      o->refused ? "!" : "");
		}
		n += (size_t)snprintf(out + n, 4096 - n, "full=%s%s%s skipped=%zu refused=%zu",
				      in.full[K8S_NODE] ? "N" : "",
				      in.full[K8S_NAMESPACE] ? "S" : "",
				      in.full[K8S_POD] ? "P" : "", in.skipped, in.refused);
	}
	k8s_input_clear(&in);
	json_decref(docs);
	return out;
}

/* extra goes on in metadata (labels), or closes it and goes on (spec, status) */
#define NODE_HEAD "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"n1\""
#define NODE(extra) NODE_HEAD extra "}}"
#define NS(name, anns)                                                                             \
	"{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name             \
	"\",\"annotations\":{" anns "}}}"
#define POD(name, uid)                                                                             \
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name                   \
	"\",\"namespace\":\"ns\",\"uid\":\"" uid "\"},\"spec\":{\"nodeName\":\"n1\"}}"
#define EV(type, obj) "{\"type\":\"" type "\",\"object\":" obj "}"

static void test_parse(void)
{
	static const struct {
		const char *in;
		unsigned full;
		int rc;
		const char *want; /* description, or a piece of the error */
	} rows[] = {
	    /* what each kind becomes (the mark label counts as one) */
	    {NODE(",\"labels\":{\"a\":\"b\"}},\"spec\":{\"podCIDRs\":[\"10.1.0.0/24\",\"fd00::/"
		  "64\"]},"
		  "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.1\"},"
		  "{\"type\":\"ExternalIP\",\"address\":\"1.2.3.4\"},{\"type\":\"InternalIP\","
		  "\"address\":\"10.0.0.1\"}]"),
	     0, BIP_OK, "N:n1/2/1/2 full= skipped=0 refused=0"},
	    {NODE("},\"spec\":{\"podCIDR\":\"10.1.0.0/24\""), 0, BIP_OK, "N:n1/1/0/1 "},
	    {NS("ns1", "\"cni.projectcalico.org/ipv4pools\":\"[\\\"p1\\\",\\\"10.0.0.0/16\\\"]\""),
	     0, BIP_OK, "S:ns1=p1,10.0.0.0/16 "},
	    /* blockipam's own annotation wins for its family; Calico's v6 one still counts */
	    {NS("ns1", "\"blockipam.io/ipv4pools\":\"[\\\"own\\\"]\","
		       "\"cni.projectcalico.org/ipv4pools\":\"[\\\"calico\\\"]\","
		       "\"cni.projectcalico.org/ipv6pools\":\"[\\\"v6\\\"]\""),
	     0, BIP_OK, "S:ns1=own,v6 "},
	    {POD("p", "u1"), 0, BIP_OK, "P:ns/p@n1#u1 "},
	    {"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\"},"
	     "\"status\":{\"phase\":\"Failed\"}}",
	     0, BIP_OK, "P:default/p@#(done) "},
	    /* lists: kubectl's List marks the kinds it holds, a typed list its own kind */
	    {"{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" POD("p", "u1") "]}", 0, BIP_OK,
	     "full=P "},
	    {"{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[]}", 0, BIP_OK, "full= "},
	    {"{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[]}", K8S_BIT(K8S_NODE), BIP_OK,
	     "full=N "},
	    {"{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":"
	     "\"n2\"}}]}",
	     0, BIP_OK, "N:n2/0/0/1 full=N "},
	    /* the later entry wins; a list replaces what came before it of its kind */
	    {EV("ADDED", POD("p", "u1")) EV("DELETED", POD("p", "u1")), 0, BIP_OK,
	     "P:ns/p@n1#u1- "},
	    {EV("DELETED", POD("p", "u1")) EV("ADDED", POD("p", "u2")), 0, BIP_OK, "P:ns/p@n1#u2 "},
	    {EV("ADDED", POD("old", "u1")) "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":"
					   "[" POD("new", "u2") "]}",
	     0, BIP_OK, "P:ns/new@n1#u2 full=P "},
	    /* other kinds, other groups, bookmarks: skipped and counted */
	    {"{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\"}}"
	     "{\"kind\":\"Node\",\"apiVersion\":\"example.com/v1\",\"metadata\":{\"name\":\"x\"}}",
	     0, BIP_OK, "full= skipped=2"},
	    {EV("BOOKMARK", "{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"5\"}}"), 0,
	     BIP_OK, "full= skipped=0"},
	    /* refused, naming document and field */
	    {"[1]", 0, BIP_EINVAL, "document 1: not an object"},
	    {"{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}", 0, BIP_EINVAL,
	     "document 1: kind: missing"},
	    {NODE("},\"spec\":{\"podCIDRs\":[\"10.1.0.1/24\"]"), 0, BIP_EINVAL,
	     "document 1 (Node n1): spec.podCIDRs[0]: host bits set in CIDR '10.1.0.1/24'"},
	    {NODE("},\"spec\":{\"podCIDRs\":[\"10.1.0.0/31\"]"), 0, BIP_EINVAL, "too small"},
	    {NODE("},\"spec\":{\"podCIDRs\":\"10.1.0.0/24\""), 0, BIP_EINVAL,
	     "spec.podCIDRs: must be a list"},
	    {NODE("},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"x\"}]"), 0,
	     BIP_EINVAL, "status.addresses[0].address: invalid IP address 'x'"},
	    {NODE(",\"labels\":{\"-a\":\"b\"}"), 0, BIP_EINVAL, "invalid label key '-a'"},
	    {NODE(",\"labels\":{\"a\":\"b c\"}"), 0, BIP_EINVAL,
	     "metadata.labels[\"a\"]: invalid value"},
	    {NODE(",\"labels\":{\"A.B/c\":\"d\"}"), 0, BIP_EINVAL, "invalid label key 'A.B/c'"},
	    {NODE(",\"labels\":{\"a\":5}"), 0, BIP_EINVAL,
	     "metadata.labels[\"a\"]: must be a string"},
	    {NS("ns1", "\"cni.projectcalico.org/ipv6pools\":\"p1\""), 0, BIP_EINVAL,
	     "(Namespace ns1): metadata.annotations[\"cni.projectcalico.org/ipv6pools\"]: want a "
	     "JSON "
	     "list"},
	    {NS("ns1", "\"cni.projectcalico.org/ipv4pools\":\"[\\\"a b\\\"]\""), 0, BIP_EINVAL,
	     "[0]: neither a pool name nor a CIDR"},
	    {POD("p", ""), 0, BIP_EINVAL, "metadata.uid: invalid"},
	    {EV("EXPLODED", POD("p", "u")), 0, BIP_EINVAL, "unknown watch event type 'EXPLODED'"},
	    {"{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" POD(
		 "p", "u") ",{\"kind\":\"Pod\","
			   "\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"Bad Name\"}}]}",
	     0, BIP_EINVAL, "document 1 items[1]: metadata.name: invalid name 'Bad Name'"},
	    {"{\"kind\":\"List\",\"apiVersion\":\"v1\"}", 0, BIP_EINVAL, "items: missing"},
	};
	char err[1024];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc;
		char *got;

		err[0] = '\0';
		got = describe(rows[i].in, rows[i].full, false, &rc, err, sizeof(err));
		T_CHECK(rc == rows[i].rc, "row %zu: rc %d, want %d (%s)", i, rc, rows[i].rc, err);
		if (rc == BIP_OK)
			T_CHECK(got && strstr(got, rows[i].want), "row %zu: '%s', want '%s'", i,
				got ? got : "", rows[i].want);
		else
			T_CHECK(strstr(err, rows[i].want), "row %zu: '%s', want '%s'", i, err,
				rows[i].want);
		free(got);
	}
}

/* Limits: nesting, label counts and sizes, InternalIPs, pools. */
static void test_limits(void)
{
	char *text = malloc(1u << 20), err[1024];
	size_t n = 0;
	int rc;

	T_REQUIRE(text);
	/* 64 levels in all are fine, 65 are not */
	for (int depth = 64; depth <= 65; depth++) {
		char *got;

		n = (size_t)sprintf(text, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
					  "\"name\":\"p\"},\"x\":");
		for (int i = 0; i < depth - 1; i++)
			text[n++] = '[';
		for (int i = 0; i < depth - 1; i++)
			text[n++] = ']';
		strcpy(text + n, "}");
		got = describe(text, 0, false, &rc, err, sizeof(err));
		T_CHECK(depth == 64 ? rc == BIP_OK : rc == BIP_EINVAL && strstr(err, "nested"),
			"depth %d: rc %d %s", depth, rc, err);
		free(got);
	}
	/* K8S_MAX_LABELS labels, then one more */
	for (int extra = 0; extra <= 1; extra++) {
		char *got;

		n = (size_t)sprintf(text, NODE_HEAD ",\"labels\":{");
		for (int i = 0; i < K8S_MAX_LABELS + extra; i++)
			n += (size_t)sprintf(text + n, "%s\"k%d\":\"v\"", i ? "," : "", i);
		strcpy(text + n, "}}}");
		got = describe(text, 0, false, &rc, err, sizeof(err));
		T_CHECK(extra ? rc == BIP_EINVAL && strstr(err, "labels (at most") : rc == BIP_OK,
			"%d labels: rc %d %s", K8S_MAX_LABELS + extra, rc, err);
		free(got);
	}
	/* a 63-character label value is fine, 64 is not */
	for (int len = 63; len <= 64; len++) {
		char *got;

		n = (size_t)sprintf(text, NODE_HEAD ",\"labels\":{\"a\":\"");
		memset(text + n, 'v', (size_t)len);
		strcpy(text + n + (size_t)len, "\"}}}");
		got = describe(text, 0, false, &rc, err, sizeof(err));
		T_CHECK(len == 63 ? rc == BIP_OK : rc == BIP_EINVAL, "value of %d: rc %d", len, rc);
		free(got);
	}
	free(text);
}

/* Lenient (k8s watch): a bad object is a warning and a placeholder that keeps its place. */
static void test_lenient(void)
{
	static const struct {
		const char *in, *want;
	} rows[] = {
	    {"{\"kind\":\"NamespaceList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":"
	     "\"ns1\",\"annotations\":{\"cni.projectcalico.org/ipv4pools\":\"[\"}}},{\"metadata\":"
	     "{\"name\":\"ns2\"}}]}",
	     "S:ns1=! S:ns2= full=S skipped=0 refused=1"},
	    /* a pod placeholder is never a deletion: its UID is unknown */
	    {EV("DELETED", POD("p", "")), "P:ns/p@#! full= skipped=0 refused=1"},
	    /* nothing to hold a place with: only the warning */
	    {"{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{}}",
	     "full= skipped=0 refused=1"},
	};
	char err[1024];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc;
		char *got = describe(rows[i].in, 0, true, &rc, err, sizeof(err));

		T_CHECK(rc == BIP_OK && got && strcmp(got, rows[i].want) == 0,
			"row %zu: rc %d '%s', want '%s'", i, rc, got ? got : "", rows[i].want);
		free(got);
	}
}

static void test_slim(void)
{
	json_t *pod =
	    json_loads("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\","
		       "\"namespace\":\"ns\","
		       "\"uid\":\"u\",\"labels\":{\"a\":\"b\"},\"annotations\":{\"x\":\"big\","
		       "\"cni.projectcalico.org/ipv4pools\":\"[]\"},\"managedFields\":[{\"f\":1}]},"
		       "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\"}]},"
		       "\"status\":{\"phase\":\"Running\",\"conditions\":[]}}",
		       0, NULL);
	json_t *slim = k8s_slim(pod);
	char *s = slim ? json_dumps(slim, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	T_CHECK_STR(s ? s : "",
		    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"annotations\":{"
		    "\"cni.projectcalico.org/ipv4pools\":\"[]\"},\"labels\":{\"a\":\"b\"},\"name\":"
		    "\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},\"spec\":{\"nodeName\":\"n1\"},"
		    "\"status\":{\"phase\":\"Running\"}}");
	free(s);
	json_decref(slim);
	json_decref(pod);
}

static void test_duration(void)
{
	static const struct {
		const char *in;
		int rc;
		int64_t s;
	} rows[] = {
	    {"15m", BIP_OK, 900},   {"0s", BIP_OK, 0},	      {"1h30m", BIP_OK, 5400},
	    {"90s", BIP_OK, 90},    {"2h0m5s", BIP_OK, 7205}, {"", BIP_EINVAL, 0},
	    {"15", BIP_EINVAL, 0},  {"m", BIP_EINVAL, 0},     {"-1s", BIP_EINVAL, 0},
	    {"1d", BIP_EINVAL, 0},  {"1.5h", BIP_EINVAL, 0},  {"99999999999s", BIP_EINVAL, 0},
	    {"5m ", BIP_EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t s = -1;
		int rc = k8s_parse_duration(rows[i].in, &s);

		T_CHECK(rc == rows[i].rc && (rc != BIP_OK || s == rows[i].s), "'%s': rc %d, %lld",
			rows[i].in, rc, (long long)s);
	}
}

T_MAIN(T(test_parse), T(test_limits), T(test_lenient), T(test_slim), T(test_duration))
