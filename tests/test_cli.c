/*
 * blockipamctl's parts that need no store: the manifest parser (YAML and JSON, one and many
 * documents, malformed input), the resource conversion (our form and Calico's), the YAML writer
 * (round trips), tables, number formats, merge patches, option values and gc's handle matching.
 * The store-side paths are exercised end to end by tests/cli.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "../cli/ctl.h"
#include "../cli/manifest.h"
#include "../cli/output.h"
#include "../cli/resource.h"
#include "t.h"

/* Parse text; on success return the compact JSON of the documents array (caller frees). */
static char *parse_text(const char *text, char *err, size_t errlen)
{
	json_t *docs = NULL;
	char *s;

	if (bip_manifest_parse(text, strlen(text), &docs, err, errlen) != BIP_OK)
		return NULL;
	s = json_dumps(docs, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(docs);
	return s;
}

static void test_manifest_scalars(void)
{
	static const struct {
		const char *yaml, *json;
	} rows[] = {
	    {"v: abc", "[{\"v\":\"abc\"}]"},
	    {"v: 'true'", "[{\"v\":\"true\"}]"},
	    {"v: \"123\"", "[{\"v\":\"123\"}]"},
	    {"v: true", "[{\"v\":true}]"},
	    {"v: False", "[{\"v\":false}]"},
	    {"v: yes", "[{\"v\":\"yes\"}]"}, /* YAML 1.2: not a bool */
	    {"v: 26", "[{\"v\":26}]"},
	    {"v: -7", "[{\"v\":-7}]"},
	    {"v: 0x1f", "[{\"v\":31}]"},
	    {"v: 0o17", "[{\"v\":15}]"},
	    {"v: 1.5", "[{\"v\":1.5}]"},
	    {"v: 1e3", "[{\"v\":1000.0}]"},
	    {"v: ~", "[{\"v\":null}]"},
	    {"v: null", "[{\"v\":null}]"},
	    {"v:", "[{\"v\":null}]"},
	    {"v: !!str 26", "[{\"v\":\"26\"}]"},
	    {"v: !!float 2", "[{\"v\":2.0}]"},
	    {"v: 10.0.0.0/16", "[{\"v\":\"10.0.0.0/16\"}]"},
	    {"v: all()", "[{\"v\":\"all()\"}]"},
	    {"v: zone == \"east\"", "[{\"v\":\"zone == \\\"east\\\"\"}]"},
	    {"v: [a, 1, {b: c}]", "[{\"v\":[\"a\",1,{\"b\":\"c\"}]}]"},
	    {"v: |\n  two\n  lines\n", "[{\"v\":\"two\\nlines\\n\"}]"},
	    {"a: &x {k: 1}\nb: *x", "[{\"a\":{\"k\":1},\"b\":{\"k\":1}}]"},
	    {"1: one", "[{\"1\":\"one\"}]"},
	    {"# only a comment\n", "[]"},
	    {"- a: 1\n- b: 2\n", "[{\"a\":1},{\"b\":2}]"},
	    {"", "[]"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[256] = "";
		char *got = parse_text(rows[i].yaml, err, sizeof(err));

		T_CHECK(got && strcmp(got, rows[i].json) == 0, "row %zu '%s': got %s (%s), want %s",
			i, rows[i].yaml, got ? got : "(error)", err, rows[i].json);
		free(got);
	}
}

static void test_manifest_documents(void)
{
	static const struct {
		const char *text, *json;
	} rows[] = {
	    /* YAML: documents separated by ---, empty ones skipped */
	    {"a: 1\n---\nb: 2\n", "[{\"a\":1},{\"b\":2}]"},
	    {"---\na: 1\n---\n---\nb: 2\n...\n", "[{\"a\":1},{\"b\":2}]"},
	    {"a: 1\n---\n", "[{\"a\":1}]"},
	    /* JSON: one value, an array of documents, concatenated values */
	    {"{\"a\": 1}", "[{\"a\":1}]"},
	    {"[{\"a\": 1}, {\"b\": 2}]", "[{\"a\":1},{\"b\":2}]"},
	    {"{\"a\": 1}\n{\"b\": 2}\n", "[{\"a\":1},{\"b\":2}]"},
	    {"\xef\xbb\xbf{\"a\": 1}", "[{\"a\":1}]"},
	    {"  \n[]", "[]"},
	    /* YAML flow style that is not JSON */
	    {"{a: 1, b: [x]}", "[{\"a\":1,\"b\":[\"x\"]}]"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[256] = "";
		char *got = parse_text(rows[i].text, err, sizeof(err));

		T_CHECK(got && strcmp(got, rows[i].json) == 0, "row %zu: got %s (%s), want %s", i,
			got ? got : "(error)", err, rows[i].json);
		free(got);
	}
}

static void test_manifest_malformed(void)
{
	static const struct {
		const char *text, *want; /* want: a part of the message */
	} rows[] = {
	    {"a: [1, 2\nb: 3\n", "line 2, column 2: did not find expected ',' or ']'"},
	    {"a: b\n  c: d\n", "line 2, column 4: mapping values are not allowed"},
	    {"a: 1\na: 2\n", "line 2, column 4: duplicate key 'a'"},
	    {"spec:\n  cidr: x\n  cidr: y\n", "line 3, column 9: duplicate key 'cidr'"},
	    {"a: *nope\n", "line 1, column 4: unknown alias '*nope'"},
	    {"? [a]\n: b\n", "line 1, column 3: a mapping key must be a string"},
	    {"a: !!int abc\n", "line 1, column 4: 'abc' is not a valid !!int"},
	    {"a: !custom x\n", "unsupported tag '!custom'"},
	    {"a: 99999999999999999999\n", "integer '99999999999999999999' is out of range"},
	    {"a: \"x\\0y\"\n", "a scalar holds a NUL character"},
	    {"a: \"\n", "line 2, column 1: found unexpected end of stream"},
	    {"a:\tb\n\t- c\n", "line 2"},
	    {"{\"a\": 1 \"b\": 2}", "line 1, column 11: '}' expected near '\"b\"'"},
	    {"{\"a\": 1}\n{\"b\": }", "line 2, column 7: "},
	    {"{\"a\": 1, \"a\": 2}", "duplicate object key"},
	    {"[1, 2", "line 1, column 5"},
	    {"a: \xff\n", "invalid"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[256] = "";
		char *got = parse_text(rows[i].text, err, sizeof(err));

		T_CHECK(!got && strstr(err, rows[i].want),
			"row %zu: got %s, message '%s', want '%s'", i, got ? got : "(error)", err,
			rows[i].want);
		free(got);
	}
}

static void test_manifest_limits(void)
{
	/* an alias bomb: each level doubles the nodes; refused, not expanded */
	const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
			   "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
	char err[256] = "", *got, deep[400];
	size_t i;

	got = parse_text(bomb, err, sizeof(err));
	T_CHECK(!got && strstr(err, "more than 1000000 nodes"), "got %s, '%s'", got ? got : "-",
		err);
	free(got);
	memcpy(deep, "a: ", 3);
	for (i = 3; i < 103; i++)
		deep[i] = '[';
	deep[i] = '\0';
	got = parse_text(deep, err, sizeof(err));
	T_CHECK(!got && strstr(err, "nested more than 64 levels"), "got %s, '%s'", got ? got : "-",
		err);
	free(got);
	/* an anchor cannot be used inside its own node */
	got = parse_text("a: &x [1, *x]\n", err, sizeof(err));
	T_CHECK(!got && strstr(err, "unknown alias '*x'"), "got %s, '%s'", got ? got : "-", err);
	free(got);
}

/* The YAML writer: what it writes reads back as the same values. */
static void test_yaml_round_trip(void)
{
	static const char *const rows[] = {
	    "{\"s\":\"plain\",\"t\":\"true\",\"n\":\"123\",\"e\":\"\",\"z\":\"null\",\"y\":"
	    "\"yes\"}",
	    "{\"o\":\"0o17\",\"f\":\"1e3\",\"tilde\":\"~\",\"dash\":\"- x\",\"colon\":\"a: b\"}",
	    "{\"hash\":\"#c\",\"nl\":\"two\\nlines\",\"lead\":\"  sp\",\"sel\":\"zone == 'a' && "
	    "has(x)\"}",
	    "{\"ctl\":\"tab\\there\",\"q\":\"it's "
	    "\\\"q\\\"\",\"u\":\"caf\\u00e9\",\"d\":\"1.2.3.4\"}",
	    "{\"i\":26,\"neg\":-1,\"r\":0.1,\"r2\":2.0,\"b\":false,\"nul\":null,\"big\":1e300}",
	    "{\"l\":[],\"m\":{},\"nested\":[{\"a\":[1,[2,{\"b\":null}]]}]}",
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *v = json_loads(rows[i], 0, NULL), *docs = json_pack("[O]", v), *back = NULL;
		char *text = NULL, err[256] = "";
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		T_REQUIRE(v && docs && f, "row %zu", i);
		T_CHECK_INT(bip_manifest_emit_yaml(f, docs), BIP_OK);
		fclose(f);
		T_CHECK(bip_manifest_parse(text, len, &back, err, sizeof(err)) == BIP_OK &&
			    json_equal(json_array_get(back, 0), v),
			"row %zu: wrote\n%s\nread back %s", i, text,
			back ? json_dumps(back, JSON_COMPACT) : err);
		json_decref(back);
		json_decref(docs);
		json_decref(v);
		free(text);
	}
}

static const char *root(void)
{
	const char *r = getenv("BIP_ROOT");

	return r && *r ? r : ".";
}

/* Load a file of tests/data into resources; NULL with the message in err. */
static struct bip_res *load(const char *rel, size_t *n, json_t *warnings, char *err, size_t errlen)
{
	char path[512], *buf = NULL;
	size_t len = 0;
	FILE *f;
	json_t *docs = NULL;
	struct bip_res *v = NULL;

	snprintf(path, sizeof(path), "%s/tests/data/%s", root(), rel);
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %.400s", path);
		return NULL;
	}
	buf = malloc(1 << 20);
	len = buf ? fread(buf, 1, 1 << 20, f) : 0;
	fclose(f);
	if (buf && bip_manifest_parse(buf, len, &docs, err, errlen) == BIP_OK)
		bip_res_from_docs(docs, &v, n, warnings, err, errlen);
	json_decref(docs);
	free(buf);
	return v;
}

static void test_calico_manifests(void)
{
	char err[512] = "", buf[BIP_PREFIX_STRLEN];
	json_t *warnings = json_array();
	struct bip_res *v;
	size_t n = 0;
	json_t *extra;

	v = load("calico/ippool-default.yaml", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 1, "%s", err);
	T_CHECK_INT(v[0].kind, BIP_RES_POOL);
	T_CHECK_STR(v[0].u.pool.name, "default-ipv4-ippool");
	T_CHECK_STR(bip_prefix_fmt(v[0].u.pool.cidr, buf), "192.168.0.0/16");
	T_CHECK_INT(v[0].u.pool.block_len, 26);
	T_CHECK_STR(v[0].u.pool.node_selector, "all()");
	T_CHECK_INT(v[0].u.pool.allowed_uses, BIP_USE_WORKLOAD | BIP_USE_TUNNEL);
	T_CHECK_INT(v[0].u.pool.mode, BIP_ASSIGN_AUTOMATIC);
	/* the dataplane fields are kept, verbatim and in order */
	T_CHECK_STR(v[0].u.pool.extra, "{\"ipipMode\":\"Always\",\"natOutgoing\":true,"
				       "\"vxlanMode\":\"Never\"}");
	T_CHECK_INT(json_array_size(warnings), 0); /* server-set metadata is ignored quietly */
	bip_res_free(v, n);

	v = load("calico/ippools-topology.yaml", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 4, "%s", err);
	T_CHECK_STR(v[0].u.pool.node_selector, "zone == \"east\"");
	T_CHECK_STR(bip_prefix_fmt(v[2].u.pool.cidr, buf), "fd00:10:244::/48");
	T_CHECK_INT(v[2].u.pool.block_len, 122);
	T_CHECK_INT(v[3].u.pool.mode, BIP_ASSIGN_MANUAL);
	T_CHECK_STR(v[3].u.pool.ns_selector, "env == 'dmz'");
	T_CHECK_INT(v[3].u.pool.allowed_uses, BIP_USE_WORKLOAD);
	T_CHECK(v[3].u.pool.extra == NULL, "no kept fields");
	extra = json_loads(v[1].u.pool.extra, 0, NULL);
	T_CHECK(json_is_true(json_object_get(extra, "disableBGPExport")), "%s", v[1].u.pool.extra);
	json_decref(extra);
	bip_res_free(v, n);

	v = load("calico/ipreservation.yaml", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 1, "%s", err);
	T_CHECK_INT(v[0].kind, BIP_RES_RESERVATION);
	T_REQUIRE(v[0].u.res.ncidrs == 3, "%zu", v[0].u.res.ncidrs);
	T_CHECK_STR(bip_prefix_fmt(v[0].u.res.cidrs[0], buf), "192.168.2.3/32");
	T_CHECK_STR(bip_prefix_fmt(v[0].u.res.cidrs[2], buf), "cafe:f00d::/123");
	bip_res_free(v, n);

	v = load("calico/ipamconfig.yaml", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 1, "%s", err);
	T_CHECK_INT(v[0].kind, BIP_RES_CONFIG);
	T_CHECK(v[0].u.cfg.strict_affinity && v[0].u.cfg.auto_allocate_blocks, "flags");
	T_CHECK_INT(v[0].u.cfg.max_blocks_per_host, 4);
	bip_res_free(v, n);

	/* calicoctl's list output: items inherit the list's apiVersion */
	v = load("calico/ippool-list.yaml", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 2, "%s", err);
	T_CHECK_STR(v[1].u.pool.name, "list-pool-b");
	T_CHECK(v[1].u.pool.disabled, "disabled");
	T_CHECK_STR(v[1].src, "document 1 item 2 (IPPool list-pool-b)");
	bip_res_free(v, n);

	v = load("calico/ippool.json", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 1, "%s", err);
	T_CHECK_INT(v[0].u.pool.block_len, 28);
	T_CHECK_STR(v[0].u.pool.node_selector, "kubernetes.io/os == 'linux'");
	bip_res_free(v, n);

	/* Calico's own annotation is ignored quietly */
	v = load("calico/crd-ippool.yaml", &n, warnings, err, sizeof(err));
	T_REQUIRE(v && n == 1, "%s", err);
	T_CHECK_INT(json_array_size(warnings), 0);
	bip_res_free(v, n);
	json_decref(warnings);
}

static void test_own_form(void)
{
	const char *text =
	    "apiVersion: blockipam.io/v1\n"
	    "kind: Pool\n"
	    "metadata: {name: p1}\n"
	    "spec: {cidr: 10.0.0.0/16, blockSize: 24, priority: 5, ipipMode: Always}\n"
	    "---\n"
	    "apiVersion: blockipam.io/v1\n"
	    "kind: Node\n"
	    "metadata:\n"
	    "  name: node-1\n"
	    "  labels: {zone: east, kubernetes.io/os: linux}\n"
	    "spec:\n"
	    "  addresses: [192.168.1.10, 'fd00::10']\n"
	    "  podCIDRs: [10.1.0.0/24, 'fd00:1::/64']\n"
	    "---\n"
	    "apiVersion: blockipam.io/v1\n"
	    "kind: Namespace\n"
	    "metadata: {name: team-a, labels: {env: dmz}}\n"
	    "spec: {pools: [p1, 10.9.0.0/24]}\n"
	    "---\n"
	    "apiVersion: blockipam.io/v1\n"
	    "kind: IPAMConfig\n"
	    "spec: {strictAffinity: true, maxBlocksPerHost: 0, "
	    "emptyBlockReleaseSeconds: 600, ipCooldownSeconds: 30}\n";
	json_t *docs = NULL, *again = json_array();
	struct bip_res *v = NULL, *w = NULL;
	size_t n = 0, m = 0;
	char err[512] = "";

	T_REQUIRE(bip_manifest_parse(text, strlen(text), &docs, err, sizeof(err)) == BIP_OK, "%s",
		  err);
	T_REQUIRE(bip_res_from_docs(docs, &v, &n, NULL, err, sizeof(err)) == BIP_OK && n == 4, "%s",
		  err);
	T_CHECK_INT(v[0].u.pool.priority, 5);
	T_CHECK_STR(v[0].u.pool.extra, "{\"ipipMode\":\"Always\"}");
	T_CHECK_INT(v[1].u.node.labels.n, 2);
	T_CHECK_STR(v[1].u.node.labels.v[1].key, "kubernetes.io/os");
	T_CHECK_INT(v[1].u.node.naddrs, 2);
	T_CHECK_INT(v[1].u.node.npod_cidrs, 2);
	T_CHECK_INT(v[2].u.ns.npools, 2);
	T_CHECK_STR(v[2].u.ns.pools[1], "10.9.0.0/24");
	T_CHECK_STR(bip_res_name(&v[3]), "default");
	T_CHECK_INT(v[3].u.cfg.empty_block_release_s, 600);
	T_CHECK_INT(v[3].u.cfg.ip_cooldown_s, 30);
	/* our form out, read back in: the same resources, the same documents */
	for (size_t i = 0; i < n; i++)
		json_array_append_new(again, bip_res_to_json(&v[i]));
	T_REQUIRE(bip_res_from_docs(again, &w, &m, NULL, err, sizeof(err)) == BIP_OK && m == n,
		  "%s", err);
	for (size_t i = 0; i < n; i++) {
		json_t *a = bip_res_to_json(&v[i]), *b = bip_res_to_json(&w[i]);

		T_CHECK(json_equal(a, b), "doc %zu: %s vs %s", i, json_dumps(a, JSON_COMPACT),
			json_dumps(b, JSON_COMPACT));
		json_decref(a);
		json_decref(b);
	}
	T_CHECK_STR(json_string_value(json_object_get(
			json_object_get(json_array_get(again, 0), "spec"), "ipipMode")),
		    "Always");
	bip_res_free(v, n);
	bip_res_free(w, m);
	json_decref(again);
	json_decref(docs);
}

/* Documents that must be refused, and the words that say why. */
static void test_bad_resources(void)
{
#define POOL(spec) "apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: p}\nspec: " spec "\n"
#define CALICO(kind, spec)                                                                         \
	"apiVersion: projectcalico.org/v3\nkind: " kind "\nmetadata: {name: c}\nspec: " spec "\n"
	static const struct {
		const char *text, *want;
	} rows[] = {
	    {POOL("{cidr: 10.0.0.1/16}"),
	     "document 1 (Pool p): spec.cidr: CIDR '10.0.0.1/16' has host bits set (the network "
	     "is 10.0.0.0/16)"},
	    {POOL("{cidr: 10.0.0.0/33}"), "spec.cidr: invalid CIDR '10.0.0.0/33'"},
	    {POOL("{cidr: banana}"), "invalid CIDR 'banana'"},
	    {POOL("{}"), "spec.cidr is missing"},
	    {"apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: p}\n", "spec is missing"},
	    {POOL("{cidr: 10.0.0.0/16, blockSize: big}"),
	     "spec.blockSize: want an integer from 0 to 128, got string 'big'"},
	    {POOL("{cidr: 10.0.0.0/16, disabled: yes}"),
	     "spec.disabled: want true or false, got string 'yes'"},
	    {POOL("{cidr: 10.0.0.0/16, nodeSelecter: all()}"),
	     "unknown field 'spec.nodeSelecter' (known: cidr, blockSize"},
	    {POOL("{cidr: 10.0.0.0/16, allowedUses: [Workload, Pets]}"),
	     "spec.allowedUses[1]: unknown use 'Pets'"},
	    {POOL("{cidr: 10.0.0.0/16, assignmentMode: Sometimes}"),
	     "unknown mode 'Sometimes' (want Automatic or Manual)"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, priority: 3}"), "unknown field 'spec.priority'"},
	    /* Calico's fields, by Calico's rules */
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, ipipMode: Sometimes}"),
	     "spec.ipipMode: want Never, Always or CrossSubnet, got string 'Sometimes'"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, vxlanMode: always}"),
	     "spec.vxlanMode: want Never, Always or CrossSubnet, got string 'always'"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, natOutgoing: yes}"),
	     "spec.natOutgoing: want true or false, got string 'yes'"},
	    {POOL("{cidr: 10.0.0.0/16, disableBGPExport: 1}"),
	     "spec.disableBGPExport: want true or false, got integer 1"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, ipipMode: Always, vxlanMode: CrossSubnet}"),
	     "Calico enables one encapsulation per pool, not both"},
	    {CALICO("IPPool", "{cidr: 'fd00::/64', ipipMode: CrossSubnet}"),
	     "spec.ipipMode: CrossSubnet on an IPv6 pool: Calico has no IPIP for IPv6"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, ipip: {enabled: true}}"),
	     "spec.ipip: Calico's v1 field, which projectcalico.org/v3 refuses"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, nat-outgoing: true}"),
	     "spec.nat-outgoing: want false (Calico's v1 field"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, awsSubnetID: subnet-xyz}"),
	     "spec.awsSubnetID: invalid subnet id 'subnet-xyz'"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16, ipipmode: Always}"),
	     "unknown field 'spec.ipipmode' (known: cidr, blockSize, disabled, nodeSelector, "
	     "namespaceSelector, allowedUses, assignmentMode; Calico's, kept for its dataplane: "
	     "ipipMode, vxlanMode, natOutgoing, disableBGPExport, awsSubnetID)"},
	    {"apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: 'bad/name'}\nspec: {}\n",
	     "metadata.name: invalid name 'bad/name'"},
	    {"apiVersion: blockipam.io/v1\nkind: Pool\nspec: {cidr: 10.0.0.0/8}\n",
	     "metadata.name is missing"},
	    {"apiVersion: blockipam.io/v1\nkind: Gadget\nmetadata: {name: g}\n",
	     "document 1: unknown kind 'Gadget' for blockipam.io/v1 (want Pool, Reservation, "
	     "IPAMConfig, Node, Namespace)"},
	    {"apiVersion: v1\nkind: Pod\n", "unsupported apiVersion 'v1'"},
	    {"kind: Pool\n", "apiVersion and kind are required"},
	    {"- a\n- b\n", "document 1: want a mapping"},
	    {"apiVersion: blockipam.io/v1\nkind: Pool\nextra: 1\n", "unknown field 'extra'"},
	    {CALICO("IPReservation", "{reservedCIDRs: [10.0.0.0/24, 300.1.1.1]}"),
	     "spec.reservedCIDRs[1]: invalid CIDR '300.1.1.1'"},
	    {CALICO("IPReservation", "{}"), "spec.reservedCIDRs is missing or empty"},
	    {CALICO("IPAMConfiguration", "{strictAffinity: true}"),
	     "the IPAM configuration is named 'default', not 'c'"},
	    {"apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: "
	     "default}\nspec: {maxBlocksPerHost: -1}\n",
	     "spec.maxBlocksPerHost: want an integer from 0 to 1000000, got integer -1"},
	    {"apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: "
	     "default}\nspec: {ipCooldownSeconds: 1201}\n",
	     "spec.ipCooldownSeconds: want an integer from 0 to 1200, got integer 1201"},
	    {"apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n, labels: {zone: 1}}\n",
	     "metadata.labels.zone: want a string, got integer 1 (quote it)"},
	    {"apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n, labels: {'a b': x}}\n",
	     "invalid label key 'a b'"},
	    {"apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDRs: "
	     "[10.1.0.0/24, 10.2.0.0/24]}\n",
	     "spec.podCIDRs: two IPv4 CIDRs ('10.1.0.0/24' and '10.2.0.0/24')"},
	    {"apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n}\nspec: {addresses: "
	     "[10.1.0.1/24]}\n",
	     "spec.addresses[0]: invalid address '10.1.0.1/24'"},
	    {"apiVersion: blockipam.io/v1\nkind: Namespace\nmetadata: {name: n}\nspec: {pools: "
	     "['no such!']}\n",
	     "spec.pools[0]: 'no such!' is neither a pool name nor a CIDR"},
	    /* across documents */
	    {POOL("{cidr: 10.0.0.0/16}") "---\n" POOL("{cidr: 10.1.0.0/16}"),
	     "document 2 (Pool p): pool 'p' is also defined in document 1 (Pool p)"},
	    {CALICO("IPPool", "{cidr: 10.0.0.0/16}") "---\n" POOL("{cidr: 10.0.128.0/20}"),
	     "document 2 (Pool p): cidr 10.0.128.0/20 overlaps document 1 (IPPool c) (cidr "
	     "10.0.0.0/16)"},
	    {"apiVersion: blockipam.io/v1\nkind: List\nitems:\n- kind: Pool\n  metadata: {name: "
	     "a}\n  spec: {cidr: 10.0.0.0/24}\n- kind: Pool\n  metadata: {name: b}\n  spec: {cidr: "
	     "10.0.0.1/24}\n",
	     "document 1 item 2 (Pool b): spec.cidr: CIDR '10.0.0.1/24' has host bits set"},
	    {"apiVersion: blockipam.io/v1\nkind: List\nitems: {}\n",
	     "items: want a list, got a mapping"},
	};
#undef POOL
#undef CALICO

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *docs = NULL;
		struct bip_res *v = NULL;
		size_t n = 0;
		char err[512] = "";
		int rc;

		rc =
		    bip_manifest_parse(rows[i].text, strlen(rows[i].text), &docs, err, sizeof(err));
		T_CHECK(rc == BIP_OK, "row %zu: does not parse: %s", i, err);
		if (rc == BIP_OK)
			rc = bip_res_from_docs(docs, &v, &n, NULL, err, sizeof(err));
		T_CHECK(rc == BIP_EINVAL && v == NULL && strstr(err, rows[i].want),
			"row %zu: rc %d, message '%s', want '%s'", i, rc, err, rows[i].want);
		bip_res_free(v, n);
		json_decref(docs);
	}
}

/* What is accepted but not kept is said, once per field. */
static void test_warnings(void)
{
	static const struct {
		const char *text, *want; /* want: NULL = no warning */
	} rows[] = {
	    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n  labels: "
	     "{a: b}\nspec: {cidr: 10.0.0.0/8}\n",
	     "document 1 (IPPool p): metadata.labels is ignored: blockipam does not keep it"},
	    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n  "
	     "annotations: {team: x}\nspec: {cidr: 10.0.0.0/8}\n",
	     "metadata.annotations is ignored"},
	    {"apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n  "
	     "annotations: {kubectl.kubernetes.io/last-applied-configuration: '{}'}\n  uid: x\n"
	     "spec: {cidr: 10.0.0.0/8}\nstatus: {conditions: []}\n",
	     NULL},
	    {"apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: "
	     "default}\nspec: {strictAffinity: true, kubeVirtVMAddressPersistence: Enabled}\n",
	     "spec.kubeVirtVMAddressPersistence is ignored: blockipam has no such setting"},
	    {"apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: "
	     "default}\nspec: {strictAffinity: true, ipCooldownSeconds: 120}\n",
	     NULL},
	    {"apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n, labels: {a: b}}\n",
	     NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *docs = NULL, *w = json_array();
		struct bip_res *v = NULL;
		size_t n = 0;
		char err[512] = "";

		T_CHECK(bip_manifest_parse(rows[i].text, strlen(rows[i].text), &docs, err,
					   sizeof(err)) == BIP_OK &&
			    bip_res_from_docs(docs, &v, &n, w, err, sizeof(err)) == BIP_OK,
			"row %zu: %s", i, err);
		if (rows[i].want)
			T_CHECK(json_array_size(w) == 1 &&
				    strstr(json_string_value(json_array_get(w, 0)), rows[i].want),
				"row %zu: %s", i, json_dumps(w, 0));
		else
			T_CHECK(json_array_size(w) == 0, "row %zu: %s", i, json_dumps(w, 0));
		bip_res_free(v, n);
		json_decref(docs);
		json_decref(w);
	}
}

static void test_kind_words(void)
{
	static const struct {
		const char *word;
		int kind; /* -1: unknown */
	} rows[] = {
	    {"pool", BIP_RES_POOL},
	    {"Pools", BIP_RES_POOL},
	    {"IPPool", BIP_RES_POOL},
	    {"ippools", BIP_RES_POOL},
	    {"reservation", BIP_RES_RESERVATION},
	    {"IPReservations", BIP_RES_RESERVATION},
	    {"ipamconfig", BIP_RES_CONFIG},
	    {"IPAMConfiguration", BIP_RES_CONFIG},
	    {"node", BIP_RES_NODE},
	    {"NAMESPACES", BIP_RES_NAMESPACE},
	    {"ns", BIP_RES_NAMESPACE},
	    {"block", -1},
	    {"", -1},
	    {"poolz", -1},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum bip_res_kind k = BIP_RES__COUNT;
		int rc = bip_res_kind_parse(rows[i].word, &k);

		if (rows[i].kind < 0)
			T_CHECK(rc == BIP_EINVAL, "'%s' accepted", rows[i].word);
		else
			T_CHECK(rc == BIP_OK && (int)k == rows[i].kind, "'%s': rc %d kind %d",
				rows[i].word, rc, (int)k);
	}
}

static char *print_table(const struct bip_table *t)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	bip_table_print(t, f);
	fclose(f);
	return s;
}

static void test_table(void)
{
	static const char *const headers[] = {"NAME", "CIDR", "NODE"};
	static const char *const r1[] = {"a-long-pool-name", "10.0.0.0/16", ""};
	static const char *const r2[] = {"p", "fd00:10:244::/48", NULL};
	struct bip_table t;
	char *s;

	T_REQUIRE(bip_table_init(&t, 3, headers) == BIP_OK, "init");
	s = print_table(&t);
	T_CHECK_STR(s, "NAME  CIDR  NODE\n");
	free(s);
	T_REQUIRE(bip_table_add(&t, r1) == BIP_OK && bip_table_add(&t, r2) == BIP_OK, "add");
	s = print_table(&t);
	T_CHECK_STR(s, "NAME              CIDR              NODE\n"
		       "a-long-pool-name  10.0.0.0/16       -\n"
		       "p                 fd00:10:244::/48  -\n");
	free(s);
	bip_table_free(&t);
}

static void test_resource_table(void)
{
	const char *text =
	    "- apiVersion: blockipam.io/v1\n  kind: Pool\n  metadata: {name: p1}\n  spec: {cidr: "
	    "10.0.0.0/16, blockSize: 26, nodeSelector: zone == 'a', ipipMode: Always, "
	    "natOutgoing: true}\n"
	    "- apiVersion: blockipam.io/v1\n  kind: Pool\n  metadata: {name: pool-two}\n  spec: "
	    "{cidr: 'fd00::/48', disabled: true, assignmentMode: Manual}\n";
	json_t *docs = NULL, *out = json_array();
	struct bip_res *v = NULL;
	struct bip_table t;
	size_t n = 0;
	char err[256], *s;

	T_REQUIRE(bip_manifest_parse(text, strlen(text), &docs, err, sizeof(err)) == BIP_OK, "%s",
		  err);
	T_REQUIRE(bip_res_from_docs(docs, &v, &n, NULL, err, sizeof(err)) == BIP_OK, "%s", err);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, bip_res_to_json(&v[i]));
	T_REQUIRE(bip_res_table(BIP_RES_POOL, out, false, false, &t) == BIP_OK, "table");
	s = print_table(&t);
	T_CHECK_STR(s, "NAME      CIDR         BLOCKSIZE  DISABLED  MODE\n"
		       "p1        10.0.0.0/16  26         false     Automatic\n"
		       "pool-two  fd00::/48    -          true      Manual\n");
	free(s);
	bip_table_free(&t);
	T_REQUIRE(bip_res_table(BIP_RES_POOL, out, true, true, &t) == BIP_OK, "wide");
	s = print_table(&t);
	T_CHECK_STR(s,
		    "NAME           CIDR         BLOCKSIZE  DISABLED  MODE       USES  PRIORITY  "
		    "NODESELECTOR  NSSELECTOR  OTHER\n"
		    "pool/p1        10.0.0.0/16  26         false     Automatic  -     0         "
		    "zone == 'a'   -           ipipMode=Always,natOutgoing=true\n"
		    "pool/pool-two  fd00::/48    -          true      Manual     -     0         "
		    "all()         -           -\n");
	free(s);
	bip_table_free(&t);
	bip_res_free(v, n);
	json_decref(out);
	json_decref(docs);
}

static void test_numbers(void)
{
	char buf[BIP_U128_STRLEN], pct[64];
	json_t *j;

	T_CHECK_STR(bip_fmt_u128(0, buf), "0");
	T_CHECK_STR(bip_fmt_u128(65536, buf), "65536");
	T_CHECK_STR(bip_fmt_u128(~(bip_u128)0, buf), "340282366920938463463374607431768211455");
	T_CHECK_STR(bip_fmt_count_pct(16, 64, pct, sizeof(pct)), "16 (25.0%)");
	T_CHECK_STR(bip_fmt_count_pct(1, 3, pct, sizeof(pct)), "1 (33.3%)");
	T_CHECK_STR(bip_fmt_count_pct(5, 0, pct, sizeof(pct)), "5");
	/* rounded, so that parts add up: 35 + 29 of 64 is 54.7% + 45.3% */
	T_CHECK_STR(bip_fmt_count_pct(35, 64, pct, sizeof(pct)), "35 (54.7%)");
	T_CHECK_STR(bip_fmt_count_pct(29, 64, pct, sizeof(pct)), "29 (45.3%)");
	T_CHECK_STR(bip_fmt_count_pct(2, 3, pct, sizeof(pct)), "2 (66.7%)");
	/* halves to even: 4 + 60 of 64 is 6.2% + 93.8%, not 6.3% + 93.8% */
	T_CHECK_STR(bip_fmt_count_pct(4, 64, pct, sizeof(pct)), "4 (6.2%)");
	T_CHECK_STR(bip_fmt_count_pct(60, 64, pct, sizeof(pct)), "60 (93.8%)");
	T_CHECK_STR(bip_fmt_count_pct(64, 64, pct, sizeof(pct)), "64 (100.0%)");
	T_CHECK_STR(bip_fmt_count_pct(0, 64, pct, sizeof(pct)), "0 (0.0%)");
	/* never 100.0% for less than all, nor 0.0% for more than nothing */
	T_CHECK_STR(bip_fmt_count_pct(65535, 65536, pct, sizeof(pct)), "65535 (>99.9%)");
	T_CHECK_STR(bip_fmt_count_pct(1, 65536, pct, sizeof(pct)), "1 (<0.1%)");
	/* IPv6 sizes: readable */
	T_CHECK_STR(bip_fmt_count(999999999999u, buf, sizeof(buf)), "999999999999");
	T_CHECK_STR(bip_fmt_count(1000000000000u, buf, sizeof(buf)), "1.0T");
	T_CHECK_STR(bip_fmt_count((bip_u128)1 << 64, buf, sizeof(buf)), "18.4E");
	T_CHECK_STR(bip_fmt_count(((bip_u128)1 << 64) - 200, buf, sizeof(buf)), "18.4E");
	T_CHECK_STR(bip_fmt_count(~(bip_u128)0, buf, sizeof(buf)), "340282366.9Q");
	T_CHECK_STR(bip_fmt_count_pct(200, (bip_u128)1 << 64, pct, sizeof(pct)), "200 (<0.1%)");
	T_CHECK_STR(bip_fmt_time(0, pct, sizeof(pct)), "-");
	T_CHECK_STR(bip_fmt_time(1714557600, pct, sizeof(pct)), "2024-05-01T10:00:00Z");
	j = bip_json_u128(1000);
	T_CHECK(json_integer_value(j) == 1000, "int");
	json_decref(j);
	j = bip_json_u128((bip_u128)1 << 64);
	T_CHECK_STR(json_string_value(j), "18446744073709551616");
	json_decref(j);
}

static void test_merge_patch(void)
{
	static const struct {
		const char *target, *patch, *want;
	} rows[] = {
	    /* RFC 7386, appendix A, and ours */
	    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
	    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
	    {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
	    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
	    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
	    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
	    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
	    {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
	    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
	    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
	    {"{\"spec\":{\"cidr\":\"x\",\"disabled\":false}}", "{\"spec\":{\"disabled\":true}}",
	     "{\"spec\":{\"cidr\":\"x\",\"disabled\":true}}"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *t = json_loads(rows[i].target, JSON_DECODE_ANY, NULL);
		json_t *p = json_loads(rows[i].patch, JSON_DECODE_ANY, NULL);
		json_t *w = json_loads(rows[i].want, JSON_DECODE_ANY, NULL);
		json_t *got = bip_res_merge_patch(t, p);

		T_CHECK(json_equal(got, w), "row %zu: got %s", i,
			got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : "NULL");
		json_decref(t);
		json_decref(p);
		json_decref(w);
		json_decref(got);
	}
}

static void test_option_values(void)
{
	static const struct {
		const char *s;
		unsigned long max;
		int rc;
		unsigned long want;
	} uints[] = {
	    {"0", 10, BIP_OK, 0},      {"10", 10, BIP_OK, 10},
	    {"11", 10, BIP_EINVAL, 0}, {"", 10, BIP_EINVAL, 0},
	    {"-1", 10, BIP_EINVAL, 0}, {"+1", 10, BIP_EINVAL, 0},
	    {" 1", 10, BIP_EINVAL, 0}, {"1x", 10, BIP_EINVAL, 0},
	    {"01", 10, BIP_EINVAL, 0}, {"99999999999999999999999", ~0ul, BIP_EINVAL, 0},
	};
	enum ctl_output o;
	bool b = false;

	for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		unsigned long v = 12345;
		int rc = ctl_parse_uint(uints[i].s, uints[i].max, &v);

		T_CHECK(rc == uints[i].rc && (rc != BIP_OK || v == uints[i].want) &&
			    (rc == BIP_OK || v == 12345),
			"'%s': rc %d v %lu", uints[i].s, rc, v);
	}
	T_CHECK(ctl_parse_bool("true", &b) == BIP_OK && b, "true");
	T_CHECK(ctl_parse_bool("false", &b) == BIP_OK && !b, "false");
	T_CHECK(ctl_parse_bool("yes", &b) == BIP_EINVAL && !b, "yes");
	T_CHECK(ctl_parse_bool("True", &b) == BIP_EINVAL, "True");
	T_CHECK(ctl_parse_output("yaml", &o) == BIP_OK && o == CTL_OUT_YAML, "yaml");
	T_CHECK(ctl_parse_output("wide", &o) == BIP_OK && o == CTL_OUT_WIDE, "wide");
	T_CHECK(ctl_parse_output("xml", &o) == BIP_EINVAL, "xml");
	T_CHECK(bip_res_name_ok("default-ipv4-ippool") && bip_res_name_ok("a") &&
		    bip_res_name_ok("node1.example.com") && !bip_res_name_ok("") &&
		    !bip_res_name_ok("-a") && !bip_res_name_ok("a/b") && !bip_res_name_ok("a b"),
		"names");
	/* Kubernetes' names: lowercase RFC 1123 subdomains; namespaces labels */
	static const struct {
		const char *name;
		bool subdomain, label;
	} k8s[] = {
	    {"default-ipv4-ippool", true, true},
	    {"a", true, true},
	    {"node1.example.com", true, false},
	    {"0-9", true, true},
	    {"Bad_Name", false, false},
	    {"UPPER", false, false},
	    {"a_b", false, false},
	    {"-a", false, false},
	    {"a-", false, false},
	    {"a..b", false, false},
	    {".a", false, false},
	    {"a.", false, false},
	    {"a.-b", false, false},
	    {"a-.b", false, false},
	    {"", false, false},
	    {"a b", false, false},
	};
	char longest[255];

	for (size_t i = 0; i < sizeof(k8s) / sizeof(k8s[0]); i++) {
		T_CHECK(bip_res_k8s_name_ok(k8s[i].name, false) == k8s[i].subdomain, "'%s'",
			k8s[i].name);
		T_CHECK(bip_res_k8s_name_ok(k8s[i].name, true) == k8s[i].label, "label '%s'",
			k8s[i].name);
	}
	memset(longest, 'a', sizeof(longest));
	longest[253] = '\0';
	T_CHECK(bip_res_k8s_name_ok(longest, false) && !bip_res_k8s_name_ok(longest, true), "253");
	longest[63] = '\0';
	T_CHECK(bip_res_k8s_name_ok(longest, true), "63");
	memset(longest, 'a', 254);
	longest[254] = '\0';
	T_CHECK(!bip_res_k8s_name_ok(longest, false), "254");
}
static void test_gc_handles(void)
{
	static const struct {
		const char *handle;
		enum ctl_liveness want;
	} rows[] = {
	    {"net1.abc123.eth0", CTL_LIVE},
	    {"net1.dead99.eth0", CTL_DEAD},
	    {"my.dotted.net.abc123.eth0", CTL_LIVE}, /* dots in the network name */
	    {"net1.abc123.eth0.100", CTL_LIVE},	     /* and in the interface name */
	    {"net1.ab.c.eth0", CTL_LIVE},	     /* a container ID with a dot */
	    {"net1.abc12.eth0", CTL_DEAD},	     /* a prefix of a live ID is not live */
	    {"ipip-tunnel-addr-node1", CTL_NOT_CNI},
	    {"a.b", CTL_NOT_CNI},
	    {".abc123.eth0", CTL_NOT_CNI},
	    {"net1..eth0", CTL_DEAD},
	};
	json_t *live = json_pack("{s:b, s:b}", "abc123", 1, "ab.c", 1);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		T_CHECK(ctl_handle_liveness(live, rows[i].handle) == rows[i].want, "'%s'",
			rows[i].handle);
	json_decref(live);
}

/* The library's validation behind apply. */
static void test_pool_validate(void)
{
	struct bip_pool p = {.name = "p"};
	char err[256] = "";

	T_REQUIRE(bip_prefix_parse_net("10.0.0.0/16", &p.cidr) == BIP_OK, "cidr");
	T_CHECK(bip_pool_validate(&p, err, sizeof(err)) == BIP_OK, "%s", err);
	p.block_len = 33;
	T_CHECK(bip_pool_validate(&p, err, sizeof(err)) != BIP_OK && *err, "block size 33");
	p.block_len = 12;
	T_CHECK(bip_pool_validate(&p, err, sizeof(err)) != BIP_OK, "pool smaller than a block");
}

T_MAIN(T(test_manifest_scalars), T(test_manifest_documents), T(test_manifest_malformed),
       T(test_manifest_limits), T(test_yaml_round_trip), T(test_calico_manifests), T(test_own_form),
       T(test_bad_resources), T(test_warnings), T(test_kind_words), T(test_table),
       T(test_resource_table), T(test_numbers), T(test_merge_patch), T(test_option_values),
       T(test_gc_handles), T(test_pool_validate))
