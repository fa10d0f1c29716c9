/*
 * The CNI plugin without the engine: environment, CNI_ARGS, configuration, annotations,
 * VERSION, version gating, result and error shapes per spec version, the error table (and its
 * documentation), STATUS's capacity rule, and "bad input never reaches the store".
 * Tables, one row per case, failure rows included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cni/cni.h"
#include "t.h"
#include "util_cni.h"

/* --- helpers -------------------------------------------------------------------------------- */

static json_t *parse_out(const char *out)
{
	return json_loads(out, 0, NULL);
}

#define ENV_ADD "CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/run/netns/x", "CNI_IFNAME=eth0"

/* --- environment ----------------------------------------------------------------------------- */

static void test_env(void)
{
	static char long_id[BIP_CNI_CONTAINERID_MAX + 2];
	static char long_id_env[BIP_CNI_CONTAINERID_MAX + 32];
	static const struct {
		const char *env[8];
		unsigned code;
		const char *substr;
	} rows[] = {
		{{NULL}, 4, "CNI_COMMAND"},
		{{"CNI_COMMAND="}, 4, "CNI_COMMAND"},
		{{"CNI_COMMAND=add"}, 4, "CNI_COMMAND 'add'"},
		{{"CNI_COMMAND=FOO"}, 4, "CNI_COMMAND 'FOO'"},
		{{ENV_ADD}, 0, NULL},
		{{"CNI_COMMAND=ADD", "CNI_NETNS=/n", "CNI_IFNAME=eth0"}, 4, "CNI_CONTAINERID"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0"}, 4, "CNI_NETNS"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n"}, 4, "CNI_IFNAME"},
		{{"CNI_COMMAND=CHECK", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0"}, 4, "CNI_NETNS"},
		{{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0"}, 0, NULL},
		{{"CNI_COMMAND=DEL", "CNI_IFNAME=eth0"}, 4, "CNI_CONTAINERID"},
		{{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c1"}, 4, "CNI_IFNAME"},
		{{"CNI_COMMAND=DEL", "CNI_CONTAINERID=", "CNI_IFNAME=eth0"}, 4, "CNI_CONTAINERID"},
		{{"CNI_COMMAND=GC"}, 4, "CNI_PATH"},
		{{"CNI_COMMAND=GC", "CNI_PATH=/opt/cni/bin"}, 0, NULL},
		{{"CNI_COMMAND=STATUS"}, 0, NULL},
		{{"CNI_COMMAND=VERSION"}, 0, NULL},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=-abc", "CNI_NETNS=/n", "CNI_IFNAME=eth0"}, 4,
		 "CNI_CONTAINERID '-abc'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=a b", "CNI_NETNS=/n", "CNI_IFNAME=eth0"}, 4,
		 "CNI_CONTAINERID 'a b'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=a/b", "CNI_NETNS=/n", "CNI_IFNAME=eth0"}, 4,
		 "CNI_CONTAINERID 'a/b'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=A_b.c-9", "CNI_NETNS=/n", "CNI_IFNAME=eth0"}, 0,
		 NULL},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n\x01", "CNI_IFNAME=eth0"}, 4,
		 "CNI_NETNS"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=a/b"}, 4,
		 "CNI_IFNAME 'a/b'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=a:b"}, 4,
		 "CNI_IFNAME 'a:b'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=a b"}, 4,
		 "CNI_IFNAME 'a b'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=a\tb"}, 4,
		 "CNI_IFNAME"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=a\\b"}, 4,
		 "must not contain '\\'"},
		{{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c", "CNI_IFNAME=a\"b"}, 4,
		 "must not contain '\"'"},
		{{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c", "CNI_IFNAME=it's"}, 4,
		 "must not contain '''"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=eth%2f"}, 0,
		 NULL},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=."}, 4,
		 "CNI_IFNAME '.'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=.."}, 4,
		 "CNI_IFNAME '..'"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=abcdefghijklmnop"},
		 4, "longer than 15"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=abcdefghijklmno"},
		 0, NULL},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=eth\xc3\xa9"}, 4,
		 "CNI_IFNAME"},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/n", "CNI_IFNAME=eth0.100"}, 0,
		 NULL},
		{{ENV_ADD, "CNI_ARGS=FOO=1"}, 4, "CNI_ARGS"},
		{{ENV_ADD, "BLOCKIPAM_NODE=bad node"}, 4, "BLOCKIPAM_NODE 'bad node'"},
		{{ENV_ADD, "BLOCKIPAM_NODE=node-1.example"}, 0, NULL},
	};
	const char *long_env[] = {"CNI_COMMAND=ADD", long_id_env, "CNI_NETNS=/n", "CNI_IFNAME=e",
				  NULL};
	struct bip_cni_env env;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_cni_err e = {0};
		int rc = bip_cni_env_parse(rows[i].env, &env, &e);

		T_CHECK((unsigned)rc == rows[i].code, "row %zu: got %d (%s), want %u", i, rc, e.msg,
			rows[i].code);
		if (rows[i].substr)
			T_CHECK(strstr(e.msg, rows[i].substr), "row %zu: '%s' lacks '%s'", i, e.msg,
				rows[i].substr);
	}
	memset(long_id, 'a', sizeof(long_id) - 1);
	snprintf(long_id_env, sizeof(long_id_env), "CNI_CONTAINERID=%s", long_id);
	{
		struct bip_cni_err e = {0};

		T_CHECK_INT(bip_cni_env_parse(long_env, &env, &e), 4);
		T_CHECK(strstr(e.msg, "CNI_CONTAINERID"), "%s", e.msg);
		long_id[BIP_CNI_CONTAINERID_MAX] = '\0';
		snprintf(long_id_env, sizeof(long_id_env), "CNI_CONTAINERID=%s", long_id);
		memset(&e, 0, sizeof(e));
		T_CHECK_INT(bip_cni_env_parse(long_env, &env, &e), 0);
	}
}

static void test_env_values(void)
{
	const char *env[] = {ENV_ADD, "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;"
				      "K8S_POD_NAME=pod-1;K8S_POD_UID=7f3c-11;X=y",
			     "CNI_PATH=/opt/cni/bin", "BLOCKIPAM_STORE=/tmp/x.db",
			     "BLOCKIPAM_NODE=n1", NULL};
	struct bip_cni_env e;
	struct bip_cni_err err = {0};

	T_REQUIRE(bip_cni_env_parse(env, &e, &err) == 0, "%s", err.msg);
	T_CHECK_INT(e.cmd, BIP_CNI_CMD_ADD);
	T_CHECK_STR(e.container_id, "c1");
	T_CHECK_STR(e.netns, "/run/netns/x");
	T_CHECK_STR(e.ifname, "eth0");
	T_CHECK_STR(e.path, "/opt/cni/bin");
	T_CHECK_STR(e.args.k8s_namespace, "ns1");
	T_CHECK_STR(e.args.k8s_pod, "pod-1");
	T_CHECK_STR(e.args.k8s_uid, "7f3c-11");
	T_CHECK_STR(e.store, "/tmp/x.db");
	T_CHECK_STR(e.node, "n1");
	T_CHECK_STR(bip_cni_getenv(env, "CNI_IFNAME"), "eth0");
	T_CHECK(bip_cni_getenv(env, "CNI_IFNAM") == NULL, "line %d", __LINE__);
}

static void test_cni_args(void)
{
	static const struct {
		const char *in;
		unsigned code;
		const char *substr; /* in the error, or the namespace on success */
		size_t nips;
		int ignore;
	} rows[] = {
		{"", 0, NULL, 0, 0},
		{"IgnoreUnknown=1", 0, NULL, 0, 1},
		{"IgnoreUnknown=true", 0, NULL, 0, 1},
		{"IgnoreUnknown=True", 0, NULL, 0, 1},
		{"IgnoreUnknown=0", 0, NULL, 0, 0},
		{"IgnoreUnknown=false", 0, NULL, 0, 0},
		{"IgnoreUnknown=yes", 4, "IgnoreUnknown='yes'", 0, 0},
		{"K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p", 0, "ns", 0, 0},
		{"FOO=bar", 4, "unknown key 'FOO'", 0, 0},
		{"IgnoreUnknown=1;FOO=bar", 0, NULL, 0, 1},
		{"FOO=bar;IgnoreUnknown=1", 0, NULL, 0, 1},
		{"a", 4, "pair 'a'", 0, 0},
		{"=b", 4, "pair '=b'", 0, 0},
		{"a=b=c", 4, "pair 'a=b=c'", 0, 0},
		{"IgnoreUnknown=1;", 4, "pair ''", 0, 0},
		{";IgnoreUnknown=1", 4, "pair ''", 0, 0},
		{"K8S_POD_NAME=x;K8S_POD_NAME=y", 4, "K8S_POD_NAME given twice", 0, 0},
		{"K8S_POD_NAME=bad name", 4, "K8S_POD_NAME='bad name'", 0, 0},
		{"K8S_POD_NAMESPACE=", 0, NULL, 0, 0},
		{"IP=10.0.0.5", 0, NULL, 1, 0},
		{"IP=10.0.0.5/24,fd00::5", 0, NULL, 2, 0},
		{"IP=10.0.0.5,10.0.0.5", 4, "given twice", 0, 0},
		{"IP=10.0.0.256", 4, "'10.0.0.256'", 0, 0},
		{"IP=", 4, "IP=''", 0, 0},
		{"IP=10.0.0.1,", 0, NULL, 1, 0},
		{"IP=,,,", 4, "IP=',,,': no address", 0, 0},
		{"IP=,", 4, "IP=',': no address", 0, 0},
		{"IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c;"
		 "K8S_POD_INFRA_CONTAINER_ID=0123abcd;K8S_POD_UID=0c8c-4d",
		 0, "kube-system", 0, 1},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_cni_args a;
		struct bip_cni_err e = {0};
		int rc = bip_cni_args_parse(rows[i].in, &a, &e);

		T_CHECK((unsigned)rc == rows[i].code, "row %zu '%s': got %d (%s)", i, rows[i].in, rc,
			e.msg);
		if (rc) {
			T_CHECK(strstr(e.msg, "CNI_ARGS"), "row %zu: '%s'", i, e.msg);
			if (rows[i].substr)
				T_CHECK(strstr(e.msg, rows[i].substr), "row %zu: '%s' lacks '%s'", i,
					e.msg, rows[i].substr);
			continue;
		}
		T_CHECK(a.nips == rows[i].nips, "row %zu: %zu ips", i, a.nips);
		T_CHECK(a.ignore_unknown == rows[i].ignore, "row %zu", i);
		if (rows[i].substr)
			T_CHECK_STR(a.k8s_namespace, rows[i].substr);
	}
}

/* --- configuration ---------------------------------------------------------------------------- */

/* No top-level type: no main plugin model (test_config_model has the models). */
#define BASE "{'cniVersion':'1.0.0','name':'net1','ipam':{'type':'blockipam'%s}%s}"

struct conf_row {
	const char *ipam; /* inserted into the ipam object, starting with ',' */
	const char *top;  /* inserted at the top level, starting with ',' */
	enum bip_cni_cmd cmd;
	unsigned code;
	const char *substr;
};

static int parse_row(const struct conf_row *r, const struct bip_cni_env *env,
		     struct bip_cni_conf *c, struct bip_cni_err *e)
{
	char buf[8192];
	char *json;
	int rc;

	snprintf(buf, sizeof(buf), BASE, r->ipam, r->top);
	json = tu_dq(buf);
	rc = bip_cni_conf_parse(json, strlen(json), r->cmd ? r->cmd : BIP_CNI_CMD_ADD, env, c, e);
	free(json);
	return rc;
}

static void check_conf_rows(const struct conf_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};
		int rc = parse_row(&rows[i], NULL, &c, &e);

		T_CHECK((unsigned)rc == rows[i].code, "row %zu (%s|%s): got %d '%s', want %u", i,
			rows[i].ipam, rows[i].top, rc, e.msg, rows[i].code);
		if (rows[i].substr)
			T_CHECK(strstr(e.msg, rows[i].substr), "row %zu: '%s' lacks '%s'", i, e.msg,
				rows[i].substr);
		if (rc == 0)
			bip_cni_conf_free(&c);
	}
}

static void test_config_top(void)
{
	static const struct {
		const char *json;
		unsigned code;
		const char *substr;
	} rows[] = {
		{"", 6, "no network configuration"},
		{"{", 6, "not valid JSON"},
		{"{'cniVersion':'1.0.0',}", 6, "not valid JSON"},
		{"[]", 6, "not a JSON object"},
		{"'x'", 6, "not a JSON object"},
		{"{'cniVersion':'1.0.0','cniVersion':'1.0.0'}", 6, "duplicate"},
		{"{'name':'n','ipam':{'type':'x'}}", 1, "incompatible CNI versions"},
		{"{'cniVersion':'0.2.0','name':'n','ipam':{'type':'x'}}", 1, "incompatible"},
		{"{'cniVersion':'0.1.0','name':'n','ipam':{'type':'x'}}", 1, "incompatible"},
		{"{'cniVersion':'2.0.0','name':'n','ipam':{'type':'x'}}", 1, "incompatible"},
		{"{'cniVersion':'1.0','name':'n','ipam':{'type':'x'}}", 1, "incompatible"},
		{"{'cniVersion':1,'name':'n','ipam':{'type':'x'}}", 7, "invalid cniVersion"},
		{"{'cniVersion':'1.0.0','ipam':{'type':'x'}}", 7, "missing name"},
		{"{'cniVersion':'1.0.0','name':5,'ipam':{'type':'x'}}", 7, "invalid name: want a string"},
		{"{'cniVersion':'1.0.0','name':'bad name','ipam':{'type':'x'}}", 7, "name 'bad name'"},
		{"{'cniVersion':'1.0.0','name':'-n','ipam':{'type':'x'}}", 7, "name '-n'"},
		{"{'cniVersion':'1.0.0','name':'','ipam':{'type':'x'}}", 7, "name ''"},
		{"{'cniVersion':'1.0.0','name':'n'}", 7, "missing ipam"},
		{"{'cniVersion':'1.0.0','name':'n','ipam':[]}", 7, "invalid ipam: want an object"},
		{"{'cniVersion':'1.0.0','name':'n','ipam':{}}", 7, "missing ipam.type"},
		{"{'cniVersion':'1.0.0','name':'n','ipam':{'type':1}}", 7, "ipam.type"},
		{"{'cniVersion':'1.0.0','name':'n','ipam':{'type':''}}", 7, "ipam.type: empty"},
		{"{'cniVersion':'1.0.0','name':'n','foo':[1],'ipam':{'type':'x','bar':{}}}", 0, NULL},
		{"{'cniVersion':'0.3.0','name':'n','ipam':{'type':'x'}}", 0, NULL},
		{"{'cniVersion':'0.3.1','name':'n','ipam':{'type':'x'}}", 0, NULL},
		{"{'cniVersion':'0.4.0','name':'n','ipam':{'type':'x'}}", 0, NULL},
		{"{'cniVersion':'1.1.0','name':'n','ipam':{'type':'x'}}", 0, NULL},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *json = tu_dq(rows[i].json);
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};
		int rc = bip_cni_conf_parse(json, strlen(json), BIP_CNI_CMD_ADD, NULL, &c, &e);

		T_CHECK((unsigned)rc == rows[i].code, "row %zu %s: got %d '%s'", i, rows[i].json, rc,
			e.msg);
		if (rows[i].substr)
			T_CHECK(strstr(e.msg, rows[i].substr), "row %zu: '%s' lacks '%s'", i, e.msg,
				rows[i].substr);
		if (rc == BIP_CNI_EVERSION)
			T_CHECK(strstr(e.details, "plugin supports [\"0.3.0\", \"0.3.1\", \"0.4.0\", "
						  "\"1.0.0\", \"1.1.0\"]"),
				"row %zu details '%s'", i, e.details);
		if (!rc)
			bip_cni_conf_free(&c);
		free(json);
	}
}

static void test_config_ipam(void)
{
	static const struct conf_row rows[] = {
		{"", "", 0, 0, NULL},
		/* store and node */
		{",'store':5", "", 0, 7, "ipam.store: want a string"},
		{",'store':'ftp://x'", "", 0, 7, "ipam.store: store address 'ftp://x'"},
		{",'store':'sqlite://rel/x.db'", "", 0, 7, "'sqlite://rel/x.db'"},
		{",'store':'sqlite:///'", "", 0, 7, "ipam.store"},
		{",'store':'sqlite:///var/lib/x/'", "", 0, 7, "ipam.store"},
		{",'store':'sqlite:///var/lib/blockipam/ipam.db'", "", 0, 0, NULL},
		{",'store':'/var/lib/blockipam/ipam.db'", "", 0, 0, NULL},
		{",'store':'etcd://'", "", 0, 7, "no endpoint"},
		/* etcd's default port 2379, as the store layer has it (one grammar) */
		{",'store':'etcd://h'", "", 0, 0, NULL},
		{",'store':'etcd://h:'", "", 0, 7, "endpoint 'h:'"},
		{",'store':'etcd://h:0'", "", 0, 7, "endpoint 'h:0'"},
		{",'store':'etcd://h:65536'", "", 0, 7, "endpoint"},
		{",'store':'etcd://h:2379,'", "", 0, 7, "empty endpoint"},
		{",'store':'etcd://h_x:2379'", "", 0, 7, "endpoint"},
		{",'store':'etcd://10.0.0.1:2379,[fd00::1]:2379,etcd-0.example:2379'", "", 0, 0,
		 NULL},
		{",'store':'etcds://e:2379','store_ca_file':'/etc/ca.pem'", "", 0, 0, NULL},
		{",'store_ca_file':'ca.pem'", "", 0, 7, "ipam.store_ca_file 'ca.pem'"},
		{",'store_cert_file':3", "", 0, 7, "ipam.store_cert_file"},
		{",'store_key_file':'k'", "", 0, 7, "ipam.store_key_file 'k'"},
		{",'store_prefix':'x'", "", 0, 7, "ipam.store_prefix 'x'"},
		{",'store_prefix':'/a/b/'", "", 0, 0, NULL},
		{",'timeout_ms':0", "", 0, 7, "ipam.timeout_ms"},
		{",'timeout_ms':600001", "", 0, 7, "ipam.timeout_ms"},
		{",'timeout_ms':'5'", "", 0, 7, "ipam.timeout_ms: want an integer 1-600000, got a "
					    "string"},
		{",'timeout_ms':1.5", "", 0, 7, "ipam.timeout_ms"},
		{",'timeout_ms':5000", "", 0, 0, NULL},
		{",'node':'bad node'", "", 0, 7, "ipam.node 'bad node'"},
		{",'node':1", "", 0, 7, "ipam.node"},
		{",'node':''", "", 0, 7, "ipam.node: empty"},
		{",'dataDir':5", "", 0, 7, "ipam.dataDir"},
		{",'dataDir':'/var/lib/cni/networks'", "", 0, 0, NULL},
		/* pools */
		{",'ipv4_pools':'p'", "", 0, 7, "ipam.ipv4_pools: want a list of strings"},
		{",'ipv4_pools':[1]", "", 0, 7, "ipam.ipv4_pools[0]: want a string"},
		{",'ipv4_pools':['fd00::/64']", "", 0, 7, "'fd00::/64' is not an IPv4 CIDR"},
		{",'ipv6_pools':['10.0.0.0/8']", "", 0, 7, "ipam.ipv6_pools[0]"},
		{",'ipv4_pools':['10.0.0.1/8']", "", 0, 7, "host bits"},
		{",'ipv4_pools':['10.0.0.0/33']", "", 0, 7, "invalid CIDR '10.0.0.0/33'"},
		{",'ipv4_pools':['a','bad name']", "", 0, 7, "ipam.ipv4_pools[1]: 'bad name'"},
		{",'ipv4_pools':['default-ipv4-ippool','10.0.0.0/16']", "", 0, 0, NULL},
		{",'pools':[]", "", 0, 7, "ipam.pools: want an object"},
		{",'pools':{'ipv4':5}", "", 0, 7, "ipam.pools.ipv4"},
		{",'pools':{'ipv6':['10.0.0.0/8']}", "", 0, 7, "ipam.pools.ipv6[0]"},
		{",'pools':{'ipv4':['a']},'ipv4_pools':['b']", "", 0, 7, "use one spelling"},
		{",'pools':{'ipv4':['a']},'ipv6_pools':['b']", "", 0, 0, NULL},
		/* assign */
		{",'assign_ipv4':'yes'", "", 0, 7, "ipam.assign_ipv4: want true, false"},
		{",'assign_ipv4':1", "", 0, 7, "ipam.assign_ipv4"},
		{",'assign_ipv6':'True'", "", 0, 7, "ipam.assign_ipv6"},
		{",'assign_ipv4':false", "", 0, 7, "nothing to assign"},
		{",'assign_ipv4':'false','assign_ipv6':'true'", "", 0, 0, NULL},
		{",'assign_ipv4':true,'assign_ipv6':true", "", 0, 0, NULL},
		/* prefix length, gateway */
		{",'prefix_length':'x'", "", 0, 7, "ipam.prefix_length 'x'"},
		{",'prefix_length':24", "", 0, 7, "ipam.prefix_length: want a string"},
		{",'prefix_length':'pool'", "", 0, 0, NULL},
		{",'gateway':5", "", 0, 7, "ipam.gateway"},
		{",'gateway':'x'", "", 0, 7, "ipam.gateway: 'x' is not an IP address"},
		{",'gateway':[]", "", 0, 7, "ipam.gateway"},
		{",'gateway':['10.0.0.1','10.0.0.2']", "", 0, 7, "a second IPv4 gateway"},
		{",'gateway':['10.0.0.1',1]", "", 0, 7, "ipam.gateway[1]"},
		{",'gateway':'169.254.1.1'", "", 0, 0, NULL},
		{",'gateway':['169.254.1.1','fe80::1']", "", 0, 0, NULL},
		/* routes */
		{",'routes':{}", "", 0, 7, "ipam.routes: want a list"},
		{",'routes':[5]", "", 0, 7, "ipam.routes[0]: want an object"},
		{",'routes':[{'gw':'10.0.0.1'}]", "", 0, 7, "missing ipam.routes[0].dst"},
		{",'routes':[{'dst':5}]", "", 0, 7, "ipam.routes[0].dst"},
		{",'routes':[{'dst':'x'}]", "", 0, 7, "'x' is not a CIDR"},
		{",'routes':[{'dst':'0.0.0.0/0'},{'dst':'10.0.0.1/8'}]", "", 0, 7,
		 "ipam.routes[1].dst: '10.0.0.1/8' has host bits set"},
		{",'routes':[{'dst':'0.0.0.0/0','gw':'x'}]", "", 0, 7, "ipam.routes[0].gw"},
		{",'routes':[{'dst':'0.0.0.0/0','gw':'fd00::1'}]", "", 0, 7, "not of the family"},
		{",'routes':[{'dst':'0.0.0.0/0','mtu':-1}]", "", 0, 7, "ipam.routes[0].mtu"},
		{",'routes':[{'dst':'0.0.0.0/0','mtu':'1500'}]", "", 0, 7, "ipam.routes[0].mtu"},
		{",'routes':[{'dst':'0.0.0.0/0','scope':256}]", "", 0, 7, "ipam.routes[0].scope"},
		{",'routes':[{'dst':'0.0.0.0/0','advmss':1.5}]", "", 0, 7, "ipam.routes[0].advmss"},
		{",'routes':[{'dst':'0.0.0.0/0','table':true}]", "", 0, 7, "ipam.routes[0].table"},
		{",'routes':[{'dst':'0.0.0.0/0','priority':'1'}]", "", 0, 7,
		 "ipam.routes[0].priority"},
		{",'routes':[{'dst':'0.0.0.0/0','gw':'10.0.0.1','mtu':1400,'scope':0},"
		 "{'dst':'::/0'}]",
		 "", 0, 0, NULL},
		/* dns */
		{",'dns':[]", "", 0, 7, "ipam.dns: want an object"},
		{",'dns':{'nameservers':'8.8.8.8'}", "", 0, 7, "ipam.dns.nameservers"},
		{",'dns':{'nameservers':['x']}", "", 0, 7, "ipam.dns.nameservers[0]: 'x'"},
		{",'dns':{'domain':5}", "", 0, 7, "ipam.dns.domain"},
		{",'dns':{'search':[1]}", "", 0, 7, "ipam.dns.search[0]"},
		{",'dns':{'options':5}", "", 0, 7, "ipam.dns.options"},
		{",'dns':{},'resolvConf':'/etc/resolv.conf'", "", 0, 7, "use one"},
		{",'resolvConf':'/nonexistent/resolv.conf'", "", 0, 7,
		 "cannot open '/nonexistent/resolv.conf'"},
		{",'resolvConf':5", "", 0, 7, "ipam.resolvConf"},
		{",'dns':{'nameservers':['10.96.0.10'],'domain':'cluster.local','search':['a'],"
		 "'options':['ndots:5']}",
		 "", 0, 0, NULL},
	};

	check_conf_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_config_ranges(void)
{
	static const struct conf_row rows[] = {
		{",'ranges':{}", "", 0, 7, "ipam.ranges: want a non-empty list"},
		{",'ranges':[]", "", 0, 7, "ipam.ranges"},
		{",'ranges':[{}]", "", 0, 7, "ipam.ranges[0]: want a non-empty list"},
		{",'ranges':[[]]", "", 0, 7, "ipam.ranges[0]"},
		{",'ranges':[[5]]", "", 0, 7, "ipam.ranges[0][0]: want an object"},
		{",'ranges':[[{}]]", "", 0, 7, "missing ipam.ranges[0][0].subnet"},
		{",'ranges':[[{'subnet':5}]]", "", 0, 7, "ipam.ranges[0][0].subnet: want a CIDR"},
		{",'ranges':[[{'subnet':'x'}]]", "", 0, 7, "'x' is not a CIDR"},
		{",'ranges':[[{'subnet':'10.0.0.1/24'}]]", "", 0, 7, "'10.0.0.1/24' has host bits"},
		{",'ranges':[[{'subnet':'10.0.0.0/31'}]]", "", 0, 7, "too small"},
		{",'ranges':[[{'subnet':'fd00::/127'}]]", "", 0, 7, "too small"},
		{",'ranges':[[{'subnet':'10.0.0.0/30'}]]", "", 0, 0, NULL},
		{",'ranges':[[{'subnet':'10.0.0.0/24','rangeStart':'10.0.1.1'}]]", "", 0, 7,
		 "ipam.ranges[0][0].rangeStart: '10.0.1.1' is not in '10.0.0.0/24'"},
		{",'ranges':[[{'subnet':'10.0.0.0/24','rangeEnd':'x'}]]", "", 0, 7,
		 "ipam.ranges[0][0].rangeEnd: 'x'"},
		{",'ranges':[[{'subnet':'10.0.0.0/24','rangeEnd':5}]]", "", 0, 7,
		 "ipam.ranges[0][0].rangeEnd"},
		{",'ranges':[[{'subnet':'10.0.0.0/24','rangeStart':'10.0.0.9','rangeEnd':'10.0.0.8'}]]",
		 "", 0, 7, "after rangeEnd"},
		{",'ranges':[[{'subnet':'10.0.0.0/24','gateway':'fd00::1'}]]", "", 0, 7,
		 "ipam.ranges[0][0].gateway"},
		{",'ranges':[[{'subnet':'10.0.0.0/24'},{'subnet':'10.0.0.0/25'}]]", "", 0, 7,
		 "ipam.ranges[0][1]: 10.0.0.1-10.0.0.126 overlaps"},
		{",'ranges':[[{'subnet':'10.0.0.0/24'}],[{'subnet':'10.0.0.128/25'}]]", "", 0, 7,
		 "overlaps"},
		{",'ranges':[[{'subnet':'10.0.0.0/24'},{'subnet':'fd00::/64'}]]", "", 0, 7,
		 "mixes IPv4 and IPv6"},
		{",'ranges':[[{'subnet':'10.0.0.0/24','rangeStart':'10.0.0.10','rangeEnd':'10.0.0.19'},"
		 "{'subnet':'10.0.0.0/24','rangeStart':'10.0.0.20','rangeEnd':'10.0.0.29'}]]",
		 "", 0, 0, NULL},
		{",'rangeStart':'10.0.0.5'", "", 0, 7, "ipam.rangeStart needs ipam.subnet"},
		{",'rangeEnd':'10.0.0.5'", "", 0, 7, "ipam.rangeEnd needs ipam.subnet"},
		{",'ranges':[[{'subnet':'10.0.0.0/24'}]],'gateway':'10.0.0.1'", "", 0, 7,
		 "ipam.gateway needs ipam.subnet"},
		{",'subnet':'10.0.0.0/24','gateway':'x'", "", 0, 7, "ipam.gateway: 'x'"},
		{",'subnet':'10.0.0.0/24','rangeStart':'10.0.0.300'", "", 0, 7, "ipam.rangeStart"},
		{",'subnet':'usePodCidr','rangeStart':'10.0.0.5'", "", 0, 7,
		 "ipam.rangeStart: not supported with"},
		{",'subnet':'usePodCidr','ranges':[[{'subnet':'10.0.0.0/24'}]]", "", 0, 7,
		 "usePodCidr cannot be combined"},
		{",'ranges':[[{'subnet':'usePodCidr'},{'subnet':'10.0.0.0/24'}]]", "", 0, 7,
		 "usePodCidr"},
		{",'ranges':[[{'subnet':'usePodCidr'}],[{'subnet':'usePodCidr'}]]", "", 0, 7,
		 "given twice"},
		{",'ranges':[[{'subnet':'usePodCidr'}],[{'subnet':'usePodCidrIPv6'}]]", "", 0, 0, NULL},
		{",'ranges':[[{'subnet':'10.0.0.0/24'}]],'ipv4_pools':['p']", "", 0, 7,
		 "ipam.ipv4_pools cannot be combined"},
		{",'subnet':'10.0.0.0/24','assign_ipv6':true", "", 0, 7,
		 "ipam.assign_ipv6 cannot be combined"},
	};

	check_conf_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_config_request(void)
{
	static const struct conf_row rows[] = {
		{"", ",'runtimeConfig':5", 0, 7, "invalid runtimeConfig"},
		{"", ",'runtimeConfig':{'ips':'10.0.0.1'}", 0, 7, "runtimeConfig.ips"},
		{"", ",'runtimeConfig':{'ips':['x']}", 0, 7, "runtimeConfig.ips[0]: 'x'"},
		{"", ",'runtimeConfig':{'ips':['10.0.0.1','10.0.0.1/24']}", 0, 7, "given twice"},
		{"", ",'args':5", 0, 7, "invalid args"},
		{"", ",'args':{'cni':5}", 0, 7, "invalid args.cni"},
		{"", ",'args':{'cni':{'ips':[1]}}", 0, 7, "args.cni.ips[0]"},
		{"", ",'args':{'cni':{'ips':['10.0.0.5/24'],'labels':[]},'k8s':{}}", 0, 0, NULL},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':5}", 0, 7,
		 "pod-annotations: want an object"},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		     "'cni.projectcalico.org/ipv4pools':5}}",
		 0, 7, "annotation cni.projectcalico.org/ipv4pools: want a string"},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		     "'cni.projectcalico.org/ipv4pools':'pool-a'}}",
		 0, 7, "cni.projectcalico.org/ipv4pools 'pool-a': want a JSON list"},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		     "'blockipam.io/ipv6pools':'[1]'}}",
		 0, 7, "blockipam.io/ipv6pools"},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		     "'blockipam.io/ipv4pools':'[\\'fd00::/64\\']'}}",
		 0, 7, "not an IPv4 CIDR"},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		     "'cni.projectcalico.org/ipAddrs':'[\\'x\\']'}}",
		 0, 7, "cni.projectcalico.org/ipAddrs[0]: 'x'"},
		{"", ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{'other':'x',"
		     "'cni.projectcalico.org/ipAddrs':'[\\'10.0.0.9\\']'}}",
		 0, 0, NULL},
		/* only the command that uses an input parses it */
		{"", ",'runtimeConfig':{'ips':['x']}", BIP_CNI_CMD_DEL, 0, NULL},
		{"", "", BIP_CNI_CMD_CHECK, 7, "missing prevResult"},
		{"", ",'prevResult':5", BIP_CNI_CMD_CHECK, 7, "invalid prevResult"},
		{"", ",'prevResult':{'ips':5}", BIP_CNI_CMD_CHECK, 7, "prevResult.ips"},
		{"", ",'prevResult':{'ips':[{'address':'x'}]}", BIP_CNI_CMD_CHECK, 7,
		 "prevResult.ips[0].address"},
		{"", ",'prevResult':{'ips':[{'address':'10.0.0.5'}]}", BIP_CNI_CMD_CHECK, 7,
		 "prevResult.ips[0].address"},
		{"", ",'prevResult':{'ips':[{'address':'10.0.0.5/26'}]}", BIP_CNI_CMD_CHECK, 0, NULL},
		{"", "", BIP_CNI_CMD_GC, 7, "missing cni.dev/valid-attachments"},
		{"", ",'cni.dev/valid-attachments':5", BIP_CNI_CMD_GC, 7, "cni.dev/valid-attachments"},
		{"", ",'cni.dev/valid-attachments':[{'containerID':'c'}]", BIP_CNI_CMD_GC, 7,
		 "cni.dev/valid-attachments[0]"},
		{"", ",'cni.dev/attachments':[{'containerID':'c','ifname':''}]", BIP_CNI_CMD_GC, 7,
		 "cni.dev/attachments[0]"},
		{"", ",'cni.dev/valid-attachments':[]", BIP_CNI_CMD_GC, 0, NULL},
		{"", ",'cni.dev/attachments':[{'containerID':'c','ifname':'eth0'}]", BIP_CNI_CMD_GC, 0,
		 NULL},
	};

	check_conf_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* The main plugin's model (top-level type): default lengths, rules, refused combinations. */
static void test_config_model(void)
{
	static const struct conf_row bad[] = {
		{"", ",'type':5", 0, 7, "invalid type: want the main plugin's name"},
		{"", ",'type':''", 0, 7, "invalid type"},
		{",'prefix_length':'pool'", ",'type':'bridge'", 0, 7,
		 "prefix_length 'pool' with type bridge"},
		{",'prefix_length':'host'", ",'type':'bridge'", 0, 7,
		 "prefix_length 'host' with type bridge"},
		{",'gateway':'10.0.0.1'", ",'type':'bridge'", 0, 7, "ipam.gateway with type bridge"},
		{",'prefix_length':'host'", ",'type':'ptp'", 0, 7, "'host' with type ptp"},
		{",'prefix_length':'host'", ",'type':'macvlan'", 0, 7, "'host' with type macvlan"},
		{",'prefix_length':'host'", ",'type':'ipvlan'", 0, 7, "'host' with type ipvlan"},
		{",'prefix_length':'block'", ",'type':'bridge'", 0, 0, NULL},
		{",'prefix_length':'host'", ",'type':'vlan'", 0, 0, NULL},
		{",'gateway':'10.0.0.1','prefix_length':'block'", ",'type':'ptp'", 0, 0, NULL},
		/* host-local mode keeps its own rules (its gateway is the range's) */
		{",'subnet':'10.0.0.0/24','gateway':'10.0.0.9'", ",'type':'bridge'", 0, 0, NULL},
	};
	static const struct {
		const char *ipam, *top;
		enum bip_cni_model model;
		enum bip_cni_prefix_mode prefix;
		enum bip_subnet_kind kind;
		unsigned max4, max6;
		bool no_borrow, default_gw;
	} rows[] = {
		{"", "", BIP_CNI_MODEL_NONE, BIP_CNI_PREFIX_BLOCK, BIP_SUBNET_NONE, 0, 0, false, false},
		{"", ",'type':'bridge'", BIP_CNI_MODEL_BRIDGE, BIP_CNI_PREFIX_BLOCK, BIP_SUBNET_BLOCK,
		 1, 0, true, false},
		{"", ",'type':'bridge','isGateway':true,'isDefaultGateway':true", BIP_CNI_MODEL_BRIDGE,
		 BIP_CNI_PREFIX_BLOCK, BIP_SUBNET_BLOCK, 1, 0, true, true},
		{"", ",'type':'ptp'", BIP_CNI_MODEL_PTP, BIP_CNI_PREFIX_POOL, BIP_SUBNET_POOL, 0, 0,
		 false, false},
		{",'prefix_length':'block'", ",'type':'ptp'", BIP_CNI_MODEL_PTP, BIP_CNI_PREFIX_BLOCK,
		 BIP_SUBNET_BLOCK, 0, 0, false, false},
		{"", ",'type':'macvlan'", BIP_CNI_MODEL_MACVLAN, BIP_CNI_PREFIX_POOL, BIP_SUBNET_POOL,
		 0, 0, false, false},
		{",'prefix_length':'block'", ",'type':'ipvlan'", BIP_CNI_MODEL_MACVLAN,
		 BIP_CNI_PREFIX_BLOCK, BIP_SUBNET_BLOCK, 0, 0, true, false},
		{"", ",'type':'vlan'", BIP_CNI_MODEL_OTHER, BIP_CNI_PREFIX_POOL, BIP_SUBNET_POOL, 0,
		 0, false, false},
		{",'prefix_length':'host'", ",'type':'vlan'", BIP_CNI_MODEL_OTHER, BIP_CNI_PREFIX_HOST,
		 BIP_SUBNET_NONE, 0, 0, false, false},
		{",'prefix_length':'pool'", "", BIP_CNI_MODEL_NONE, BIP_CNI_PREFIX_POOL,
		 BIP_SUBNET_NONE, 0, 0, false, false},
	};

	check_conf_rows(bad, sizeof(bad) / sizeof(bad[0]));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct conf_row r = {rows[i].ipam, rows[i].top, 0, 0, NULL};
		struct bip_subnet_rule sr[2];
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};

		if (parse_row(&r, NULL, &c, &e) != 0) {
			T_CHECK(0, "row %zu: %s", i, e.msg);
			continue;
		}
		bip_cni_subnet_rules(&c, sr);
		T_CHECK(c.model == rows[i].model, "row %zu: model %d", i, c.model);
		T_CHECK(c.prefix_mode == rows[i].prefix, "row %zu: prefix %d", i, c.prefix_mode);
		T_CHECK(c.default_gw == rows[i].default_gw, "row %zu: isDefaultGateway", i);
		for (int f = 0; f < 2; f++) {
			T_CHECK(sr[f].kind == rows[i].kind, "row %zu/%d: kind %d", i, f, sr[f].kind);
			T_CHECK(sr[f].max_blocks == (f ? rows[i].max6 : rows[i].max4),
				"row %zu/%d: max_blocks %u", i, f, sr[f].max_blocks);
			T_CHECK(sr[f].no_borrow == rows[i].no_borrow, "row %zu/%d: no_borrow", i, f);
		}
		bip_cni_conf_free(&c);
	}
}

/* The values a good config parses into. */
static void test_config_values(void)
{
	struct bip_cni_conf c;
	struct bip_cni_err e = {0};
	char buf[BIP_ADDR_STRLEN];
	struct conf_row r = {",'store':'/tmp/x.db','node':'n1','ipv4_pools':['a','10.0.0.0/16'],"
			     "'pools':{'ipv6':['v6']},'assign_ipv6':'true','prefix_length':'host',"
			     "'gateway':['fd00::1','169.254.1.1'],'routes':[{'dst':'0.0.0.0/0'}],"
			     "'timeout_ms':250",
			     "", 0, 0, NULL};

	T_REQUIRE(parse_row(&r, NULL, &c, &e) == 0, "%s", e.msg);
	T_CHECK_STR(c.name, "net1");
	T_CHECK_INT(c.version, BIP_CNI_V100);
	T_CHECK_STR(c.store, "/tmp/x.db");
	T_CHECK_STR(c.node, "n1");
	T_CHECK_INT(c.npools4, 2);
	T_CHECK_INT(c.npools6, 1);
	T_CHECK_STR(c.pools[0], "a");
	T_CHECK_STR(c.pools[1], "10.0.0.0/16");
	T_CHECK_STR(c.pools[2], "v6");
	T_CHECK(c.assign4 && c.assign6, "line %d", __LINE__);
	T_CHECK_INT(c.prefix_mode, BIP_CNI_PREFIX_HOST);
	T_CHECK_STR(bip_addr_fmt(c.gateway4, buf), "169.254.1.1");
	T_CHECK_STR(bip_addr_fmt(c.gateway6, buf), "fd00::1");
	T_CHECK_INT(c.nroutes, 1);
	T_CHECK_INT(c.routes[0].mtu, -1);
	T_CHECK_INT(c.timeout_ms, 250);
	T_CHECK(!c.host_local, "line %d", __LINE__);
	bip_cni_conf_free(&c);

	/* defaults */
	r = (struct conf_row){"", "", 0, 0, NULL};
	T_REQUIRE(parse_row(&r, NULL, &c, &e) == 0, "%s", e.msg);
	T_CHECK(c.assign4 && !c.assign6, "line %d", __LINE__);
	T_CHECK_INT(c.prefix_mode, BIP_CNI_PREFIX_BLOCK);
	T_CHECK(!c.store && !c.node && !c.gateway4.family && !c.nroutes, "line %d", __LINE__);
	bip_cni_conf_free(&c);
}

static void test_config_ranges_values(void)
{
	static const struct {
		const char *ipam;
		size_t nranges;
		unsigned sets4, sets6;
		const char *first_start, *first_end, *first_gw;
		int last_set;
	} rows[] = {
		{",'ranges':[[{'subnet':'10.0.0.0/24'}]]", 1, 1, 0, "10.0.0.1", "10.0.0.254",
		 "10.0.0.1", 0},
		{",'ranges':[[{'subnet':'fd00::/120'}]]", 1, 0, 1, "fd00::1", "fd00::ff", "fd00::1", 0},
		{",'ranges':[[{'subnet':'10.0.0.0/30'}]]", 1, 1, 0, "10.0.0.1", "10.0.0.2", "10.0.0.1",
		 0},
		{",'subnet':'10.1.0.0/16','rangeStart':'10.1.0.10','rangeEnd':'10.1.0.20',"
		 "'gateway':'10.1.0.254','ranges':[[{'subnet':'fd00::/64'}]]",
		 2, 1, 1, "10.1.0.10", "10.1.0.20", "10.1.0.254", 1},
		{",'ranges':[[{'subnet':'10.0.0.0/24'},{'subnet':'10.0.1.0/24'}],"
		 "[{'subnet':'10.0.2.0/24'}]]",
		 3, 2, 0, "10.0.0.1", "10.0.0.254", "10.0.0.1", 1},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct conf_row r = {rows[i].ipam, "", 0, 0, NULL};
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};
		char buf[BIP_ADDR_STRLEN];

		if (parse_row(&r, NULL, &c, &e) != 0) {
			T_CHECK(0, "row %zu: %s", i, e.msg);
			continue;
		}
		T_CHECK(c.host_local, "row %zu", i);
		T_CHECK_INT(c.nranges, rows[i].nranges);
		T_CHECK_INT(c.nsets4, rows[i].sets4);
		T_CHECK_INT(c.nsets6, rows[i].sets6);
		T_CHECK_INT(c.assign4, rows[i].sets4 > 0);
		T_CHECK_INT(c.assign6, rows[i].sets6 > 0);
		T_CHECK_STR(bip_addr_fmt(c.ranges[0].start, buf), rows[i].first_start);
		T_CHECK_STR(bip_addr_fmt(c.ranges[0].end, buf), rows[i].first_end);
		T_CHECK_STR(bip_addr_fmt(c.ranges[0].gateway, buf), rows[i].first_gw);
		T_CHECK_INT(c.ranges[c.nranges - 1].set, rows[i].last_set);
		bip_cni_conf_free(&c);
	}
	{
		struct conf_row r = {",'subnet':'usePodCidr'", "", 0, 0, NULL};
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};

		T_REQUIRE(parse_row(&r, NULL, &c, &e) == 0, "%s", e.msg);
		T_CHECK(c.host_local && c.use_pod_cidr4 && !c.use_pod_cidr6 && c.nranges == 0, "line %d", __LINE__);
		T_CHECK(c.assign4 && !c.assign6, "line %d", __LINE__);
		bip_cni_conf_free(&c);
	}
}

/* Which source of specific addresses wins, and which annotation key. */
static void test_requested_ips(void)
{
	static const struct {
		const char *top;
		const char *cni_args;
		const char *source;
		const char *first;
		size_t nips;
	} rows[] = {
		{"", NULL, NULL, NULL, 0},
		{",'runtimeConfig':{'ips':['10.0.0.1/24','fd00::1']},'args':{'cni':{'ips':['10.0.0.2']}}",
		 "IP=10.0.0.3", "runtimeConfig.ips", "10.0.0.1", 2},
		{",'args':{'cni':{'ips':['10.0.0.2']}}", "IP=10.0.0.3", "args.cni.ips", "10.0.0.2", 1},
		{",'runtimeConfig':{'ips':[]},'args':{'cni':{'ips':['10.0.0.2']}}", NULL,
		 "args.cni.ips", "10.0.0.2", 1},
		{"", "IgnoreUnknown=1;IP=10.0.0.3", "CNI_ARGS IP", "10.0.0.3", 1},
		{",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		 "'cni.projectcalico.org/ipAddrs':'[\\'10.0.0.4\\']'}}",
		 "IP=10.0.0.3", "CNI_ARGS IP", "10.0.0.3", 1},
		{",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		 "'cni.projectcalico.org/ipAddrs':'[\\'10.0.0.4\\']'}}",
		 NULL, "cni.projectcalico.org/ipAddrs", "10.0.0.4", 1},
		{",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{"
		 "'cni.projectcalico.org/ipAddrs':'[\\'10.0.0.4\\']',"
		 "'blockipam.io/ipAddrs':'[\\'10.0.0.5\\',\\'fd00::5\\']'}}",
		 NULL, "blockipam.io/ipAddrs", "10.0.0.5", 2},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char args[128];
		const char *envv[] = {ENV_ADD, args, NULL};
		struct bip_cni_env env;
		struct conf_row r = {"", rows[i].top, 0, 0, NULL};
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};
		char buf[BIP_ADDR_STRLEN];

		snprintf(args, sizeof(args), "CNI_ARGS=%s", rows[i].cni_args ? rows[i].cni_args : "");
		T_REQUIRE(bip_cni_env_parse(envv, &env, &e) == 0, "%s", e.msg);
		if (parse_row(&r, &env, &c, &e) != 0) {
			T_CHECK(0, "row %zu: %s", i, e.msg);
			continue;
		}
		T_CHECK(c.nips == rows[i].nips, "row %zu: %zu ips", i, c.nips);
		if (rows[i].source)
			T_CHECK_STR(c.ips_source, rows[i].source);
		if (rows[i].first)
			T_CHECK_STR(bip_addr_fmt(c.ips[0], buf), rows[i].first);
		bip_cni_conf_free(&c);
	}
}

static void test_annotation_pools(void)
{
	static const struct {
		const char *anns;
		const char *want; /* the pools, joined with ',' */
	} rows[] = {
		{"", ""},
		{"'cni.projectcalico.org/ipv4pools':'[\\'default-ipv4-ippool\\']'",
		 "default-ipv4-ippool"},
		{"'cni.projectcalico.org/ipv4pools':'[\\'a\\']','blockipam.io/ipv4pools':'[\\'b\\']'",
		 "b"},
		{"'cni.projectcalico.org/ipv6pools':'[\\'v6\\',\\'fd00::/64\\']',"
		 "'blockipam.io/ipv4pools':'[\\'10.0.0.0/16\\']'",
		 "10.0.0.0/16,v6,fd00::/64"},
		{"'blockipam.io/ipv4pools':'[]'", ""},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char top[512], got[256] = "";
		struct conf_row r = {"", top, 0, 0, NULL};
		struct bip_cni_conf c;
		struct bip_cni_err e = {0};

		snprintf(top, sizeof(top),
			 ",'runtimeConfig':{'io.kubernetes.cri.pod-annotations':{%s}}", rows[i].anns);
		if (parse_row(&r, NULL, &c, &e) != 0) {
			T_CHECK(0, "row %zu: %s", i, e.msg);
			continue;
		}
		for (size_t k = 0; k < c.nann_pools; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "",
				 c.ann_pools[k]);
		T_CHECK_STR(got, rows[i].want);
		bip_cni_conf_free(&c);
	}
}

static void test_gc_attachments(void)
{
	struct conf_row r = {"",
			     ",'cni.dev/valid-attachments':[{'containerID':'a','ifname':'eth0'}],"
			     "'cni.dev/attachments':[{'containerID':'b','ifname':'net1'}]",
			     BIP_CNI_CMD_GC, 0, NULL};
	struct bip_cni_conf c;
	struct bip_cni_err e = {0};

	T_REQUIRE(parse_row(&r, NULL, &c, &e) == 0, "%s", e.msg);
	T_CHECK_INT(c.nvalid, 2);
	T_CHECK_STR(c.valid[0].container_id, "a");
	T_CHECK_STR(c.valid[1].ifname, "net1");
	bip_cni_conf_free(&c);
}

static void test_config_size_limit(void)
{
	static const char head[] = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"type\":\"x\"},"
				   "\"pad\":\"";
	size_t fixed = sizeof(head) - 1 + 2; /* closing quote and brace */
	char *buf = malloc(BIP_CNI_CONFIG_MAX + 2);
	struct bip_cni_conf c;

	T_REQUIRE(buf != NULL, "line %d", __LINE__);
	for (int over = 0; over <= 1; over++) {
		size_t total = BIP_CNI_CONFIG_MAX + (size_t)over;
		struct bip_cni_err e = {0};
		int rc;

		memcpy(buf, head, sizeof(head) - 1);
		memset(buf + sizeof(head) - 1, 'x', total - fixed);
		memcpy(buf + total - 2, "\"}", 2);
		rc = bip_cni_conf_parse(buf, total, BIP_CNI_CMD_ADD, NULL, &c, &e);
		if (over) {
			T_CHECK_INT(rc, 7);
			T_CHECK(strstr(e.msg, "larger than 1 MiB"), "%s", e.msg);
		} else {
			T_CHECK(rc == 0, "%s", e.msg);
			if (!rc)
				bip_cni_conf_free(&c);
		}
	}
	/* through the plugin: stdin larger than the limit is refused, not truncated */
	{
		const char *env[] = {ENV_ADD, NULL};
		char *out = NULL;

		buf[BIP_CNI_CONFIG_MAX + 1] = '\0';
		T_CHECK_INT(tu_run(env, buf, &out), 1);
		T_CHECK_INT(tu_code(out), 7);
		free(out);
	}
	free(buf);
}

static void test_resolv(void)
{
	static const struct {
		const char *text;
		int rc;
		const char *want; /* nameservers|domain|search|options */
	} rows[] = {
		{"", 0, "|||"},
		{"nameserver 10.0.0.10\nsearch a.local b.local\noptions ndots:5 edns0\n", 0,
		 "10.0.0.10||a.local,b.local|ndots:5,edns0"},
		{"# comment\nnameserver 1.1.1.1 # x\n\nnameserver fd00::53\r\ndomain example.org\n"
		 "search x\nsearch y z\n; other\n",
		 0, "1.1.1.1,fd00::53|example.org|y,z|"},
		{"  nameserver\t8.8.8.8\nsortlist 10.0.0.0\n", 0, "8.8.8.8|||"},
		{"\nnameserver nope\n", 7, "line 2"},
		{"nameserver\n", 7, "line 1"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_cni_conf c = {0};
		struct bip_cni_err e = {0};
		char got[512] = "";
		int rc = bip_cni_resolv_parse(rows[i].text, "/etc/r.conf", &c, &e);

		T_CHECK(rc == rows[i].rc, "row %zu: %d %s", i, rc, e.msg);
		if (rc) {
			T_CHECK(strstr(e.msg, rows[i].want) && strstr(e.msg, "/etc/r.conf"),
				"row %zu: %s", i, e.msg);
			bip_cni_conf_free(&c);
			continue;
		}
		for (size_t k = 0; k < c.dns.nnameservers; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "",
				 c.dns.nameservers[k]);
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "|%s|",
			 c.dns.domain ? c.dns.domain : "");
		for (size_t k = 0; k < c.dns.nsearch; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "",
				 c.dns.search[k]);
		strcat(got, "|");
		for (size_t k = 0; k < c.dns.noptions; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "",
				 c.dns.options[k]);
		T_CHECK_STR(got, rows[i].want);
		bip_cni_conf_free(&c);
	}
}

/* --- names ------------------------------------------------------------------------------------- */

static void test_names(void)
{
	static const struct {
		const char *s;
		bool name, poolref4;
	} rows[] = {
		{"a", true, true},
		{"A9_x.y-z", true, true},
		{"", false, false},
		{"-a", false, false},
		{"_a", false, false},
		{".a", false, false},
		{"a b", false, false},
		{"a/b", false, false},
		{"10.0.0.0/8", false, true},
		{"10.0.0.1/8", false, false},
		{"fd00::/8", false, false},
		{"é", false, false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char why[128];

		T_CHECK(bip_cni_name_ok(rows[i].s, 253) == rows[i].name, "row %zu '%s'", i, rows[i].s);
		T_CHECK(bip_cni_poolref_ok(rows[i].s, 4, why, sizeof(why)) == rows[i].poolref4,
			"row %zu '%s'", i, rows[i].s);
	}
	T_CHECK(bip_cni_name_ok("abc", 3), "line %d", __LINE__);
	T_CHECK(!bip_cni_name_ok("abcd", 3), "line %d", __LINE__);
}

/* --- VERSION and version gating --------------------------------------------------------------- */

static void test_version_output(void)
{
	static const struct {
		const char *in;
		const char *want;
	} rows[] = {
		{NULL, "1.1.0"},
		{"", "1.1.0"},
		{"not json", "1.1.0"},
		{"{'cniVersion':'0.3.0'}", "0.3.0"},
		{"{'cniVersion':'0.3.1'}", "0.3.1"},
		{"{'cniVersion':'0.4.0'}", "0.4.0"},
		{"{'cniVersion':'1.0.0'}", "1.0.0"},
		{"{'cniVersion':'1.1.0','name':'x'}", "1.1.0"},
		{"{'cniVersion':'0.2.0'}", "1.1.0"},
		{"{'cniVersion':5}", "1.1.0"},
	};
	const char *env[] = {"CNI_COMMAND=VERSION", NULL};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *in = rows[i].in ? tu_dq(rows[i].in) : NULL, *out = NULL, want[256];

		T_CHECK_INT(tu_run(env, in, &out), 0);
		snprintf(want, sizeof(want),
			 "{\"cniVersion\":\"%s\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\","
			 "\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n",
			 rows[i].want);
		T_CHECK_STR(out, want);
		free(out);
		free(in);
	}
}

static void test_version_gating(void)
{
	static const struct {
		const char *cmd, *version;
		unsigned code;
	} rows[] = {
		{"CHECK", "0.3.0", 1}, {"CHECK", "0.3.1", 1}, {"GC", "0.3.1", 1},
		{"GC", "0.4.0", 1},    {"GC", "1.0.0", 1},    {"STATUS", "0.3.0", 1},
		{"STATUS", "0.4.0", 1}, {"STATUS", "1.0.0", 1},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char cmd[32], conf[512], *out = NULL;
		const char *env[] = {cmd, "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
				     "CNI_PATH=/opt/cni/bin", NULL};
		json_t *j;

		snprintf(cmd, sizeof(cmd), "CNI_COMMAND=%s", rows[i].cmd);
		snprintf(conf, sizeof(conf),
			 "{\"cniVersion\":\"%s\",\"name\":\"n\",\"ipam\":{\"type\":\"blockipam\","
			 "\"store\":\"/nonexistent/dir/ipam.db\"},"
			 "\"prevResult\":{},\"cni.dev/valid-attachments\":[]}",
			 rows[i].version);
		T_CHECK_INT(tu_run(env, conf, &out), 1);
		j = parse_out(out);
		T_CHECK(json_integer_value(json_object_get(j, "code")) == rows[i].code, "row %zu: %s",
			i, out);
		T_CHECK_STR(json_string_value(json_object_get(j, "cniVersion")), rows[i].version);
		T_CHECK(strstr(json_string_value(json_object_get(j, "details")), rows[i].cmd),
			"row %zu: %s", i, out);
		json_decref(j);
		free(out);
	}
}

/* --- results ---------------------------------------------------------------------------------- */

static void test_result_format(void)
{
	struct bip_cni_ip ips[2];
	struct bip_cni_route routes[2] = {{.mtu = -1, .advmss = -1, .priority = -1, .table = -1,
					   .scope = -1},
					  {.mtu = 1400, .advmss = -1, .priority = 10, .table = -1,
					   .scope = 0}};
	const char *ns[] = {"10.96.0.10"}, *search[] = {"svc.cluster.local"}, *opts[] = {"ndots:5"};
	struct bip_cni_dns dns = {ns, 1, "cluster.local", search, 1, opts, 1};
	static const struct {
		enum bip_cni_version v;
		const char *want;
	} rows[] = {
		{BIP_CNI_V030,
		 "{'cniVersion':'0.3.0','ips':[{'version':'4','address':'10.0.0.5/26','gateway':'"
		 "169.254.1.1'},{'version':'6','address':'fd00::5/122'}],'routes':[{'dst':'0.0.0.0/"
		 "0','gw':'169.254.1.1'},{'dst':'10.96.0.0/12'}],'dns':{'nameservers':['10.96.0.10'"
		 "],'domain':'cluster.local','search':['svc.cluster.local'],'options':['ndots:5']}}"},
		{BIP_CNI_V031,
		 "{'cniVersion':'0.3.1','ips':[{'version':'4','address':'10.0.0.5/26','gateway':'"
		 "169.254.1.1'},{'version':'6','address':'fd00::5/122'}],'routes':[{'dst':'0.0.0.0/"
		 "0','gw':'169.254.1.1'},{'dst':'10.96.0.0/12'}],'dns':{'nameservers':['10.96.0.10'"
		 "],'domain':'cluster.local','search':['svc.cluster.local'],'options':['ndots:5']}}"},
		{BIP_CNI_V040,
		 "{'cniVersion':'0.4.0','ips':[{'version':'4','address':'10.0.0.5/26','gateway':'"
		 "169.254.1.1'},{'version':'6','address':'fd00::5/122'}],'routes':[{'dst':'0.0.0.0/"
		 "0','gw':'169.254.1.1'},{'dst':'10.96.0.0/12'}],'dns':{'nameservers':['10.96.0.10'"
		 "],'domain':'cluster.local','search':['svc.cluster.local'],'options':['ndots:5']}}"},
		{BIP_CNI_V100,
		 "{'cniVersion':'1.0.0','ips':[{'address':'10.0.0.5/26','gateway':'169.254.1.1'},{"
		 "'address':'fd00::5/122'}],'routes':[{'dst':'0.0.0.0/0','gw':'169.254.1.1'},{'dst'"
		 ":'10.96.0.0/12'}],'dns':{'nameservers':['10.96.0.10'],'domain':'cluster.local','"
		 "search':['svc.cluster.local'],'options':['ndots:5']}}"},
		{BIP_CNI_V110,
		 "{'cniVersion':'1.1.0','ips':[{'address':'10.0.0.5/26','gateway':'169.254.1.1'},{"
		 "'address':'fd00::5/122'}],'routes':[{'dst':'0.0.0.0/0','gw':'169.254.1.1'},{'dst'"
		 ":'10.96.0.0/12','mtu':1400,'priority':10,'scope':0}],'dns':{'nameservers':['10.96"
		 ".0.10'],'domain':'cluster.local','search':['svc.cluster.local'],'options':['ndots:"
		 "5']}}"},
	};

	memset(ips, 0, sizeof(ips));
	bip_prefix_parse("10.0.0.5/26", &ips[0].address);
	bip_addr_parse("169.254.1.1", &ips[0].gateway);
	bip_prefix_parse("fd00::5/122", &ips[1].address);
	bip_prefix_parse_net("0.0.0.0/0", &routes[0].dst);
	routes[0].gw = ips[0].gateway;
	bip_prefix_parse_net("10.96.0.0/12", &routes[1].dst);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_cni_result r = {ips, 2, routes, 2, &dns};
		char *got = bip_cni_result_json(&r, rows[i].v);
		char *want = tu_dq(rows[i].want);
		size_t n = strlen(want);

		want = realloc(want, n + 2);
		strcpy(want + n, "\n");
		T_CHECK_STR(got, want);
		free(got);
		free(want);
	}
	/* minimal: no routes, no dns, no gateway */
	{
		struct bip_cni_result r = {ips + 1, 1, NULL, 0, NULL};
		char *got = bip_cni_result_json(&r, BIP_CNI_V100);

		T_CHECK_STR(got, "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"fd00::5/122\"}],"
				 "\"dns\":{}}\n");
		free(got);
	}
}

static void test_error_json(void)
{
	struct bip_cni_err e = {0};
	char *s;

	bip_cni_errf(&e, 7, "invalid %s '%s'", "ipam.node", "x\"y");
	bip_cni_errf(&e, 4, "ignored: the first error wins");
	bip_cni_err_details(&e, "d");
	s = bip_cni_error_json(&e, "0.4.0");
	T_CHECK_STR(s, "{\"cniVersion\":\"0.4.0\",\"code\":7,\"msg\":\"invalid ipam.node "
		       "'x\\\"y'\",\"details\":\"d\"}\n");
	free(s);
	memset(&e, 0, sizeof(e));
	bip_cni_errf(&e, 4, "invalid CNI_IFNAME 'eth\xc3\xa9\x01'");
	s = bip_cni_error_json(&e, NULL);
	T_CHECK_STR(s, "{\"cniVersion\":\"1.1.0\",\"code\":4,\"msg\":\"invalid CNI_IFNAME "
		       "'eth??\\u0001'\",\"details\":\"\"}\n");
	free(s);
}

/* Errors carry the config's cniVersion when it is known, else the latest. */
static void test_error_version(void)
{
	const char *env[] = {"CNI_COMMAND=ADD", NULL};
	char *out = NULL;
	json_t *j;

	T_CHECK_INT(tu_run(env, "{\"cniVersion\":\"0.3.1\"}", &out), 1);
	j = parse_out(out);
	T_CHECK_STR(json_string_value(json_object_get(j, "cniVersion")), "0.3.1");
	T_CHECK_INT(json_integer_value(json_object_get(j, "code")), 4);
	json_decref(j);
	free(out);
	T_CHECK_INT(tu_run(env, NULL, &out), 1);
	j = parse_out(out);
	T_CHECK_STR(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	json_decref(j);
	free(out);
}

/* --- the error table --------------------------------------------------------------------------- */

static const struct {
	int bip;
	unsigned cni;
} error_table[] = {
	{BIP_OK, 0},		{BIP_ENOMEM, 11},     {BIP_EINVAL, 7},	    {BIP_EHOSTBITS, 7},
	{BIP_ENOTFOUND, 110},	{BIP_EEXIST, 111},    {BIP_ECONFLICT, 11},  {BIP_EAGAIN, 11},
	{BIP_EIO, 5},		{BIP_ECORRUPT, 107},  {BIP_ESCHEMA, 108},   {BIP_EPERM, 109},
	{BIP_EEXHAUSTED, 100},	{BIP_ETAKEN, 101},    {BIP_ERESERVED, 102}, {BIP_ENOPOOL, 103},
	{BIP_EDISABLED, 104},	{BIP_EOVERLAP, 112},  {BIP_EBUSY, 113},	    {BIP_EBLOCKLIMIT, 105},
	{BIP_EOWNER, 106},	{BIP_ETIMEDOUT, 11},  {BIP_EUNSUPPORTED, 114},
};

static void test_error_table(void)
{
	T_CHECK_INT(sizeof(error_table) / sizeof(error_table[0]), BIP_ERR__COUNT);
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		T_CHECK(bip_cni_code(error_table[i].bip) == error_table[i].cni, "%s -> %u, want %u",
			bip_errname(error_table[i].bip), bip_cni_code(error_table[i].bip),
			error_table[i].cni);
	T_CHECK_INT(bip_cni_code(-1), 199);
	T_CHECK_INT(bip_cni_code(BIP_ERR__COUNT), 199);
	for (int i = 1; i < BIP_ERR__COUNT; i++)
		T_CHECK(strcmp(bip_cni_code_text(bip_cni_code(i)), "unknown error") != 0, "%s",
			bip_errname(i));
	T_CHECK_STR(bip_cni_code_text(50), "plugin not available");
}

/* docs/cni-errors.md must list every code the table produces, with the error names. */
static void test_error_doc(void)
{
	const char *root = getenv("BIP_ROOT");
	char path[1024], line[1024];
	char *doc = NULL;
	size_t n = 0;
	FILE *f, *m;

	snprintf(path, sizeof(path), "%s/docs/cni-errors.md", root ? root : ".");
	f = fopen(path, "r");
	if (!f)
		T_SKIP("docs/cni-errors.md not found (run from the source tree or set BIP_ROOT)");
	m = open_memstream(&doc, &n);
	while (fgets(line, sizeof(line), f))
		fputs(line, m);
	fclose(m);
	fclose(f);
	for (int i = 1; i < BIP_ERR__COUNT; i++) {
		char row[64], *at;

		snprintf(row, sizeof(row), "\n| %u |", bip_cni_code(i));
		at = strstr(doc, row);
		T_CHECK(at != NULL, "no row for code %u (%s)", bip_cni_code(i), bip_errname(i));
		if (at) {
			char *end = strchr(at + 1, '\n');
			char name[32];

			snprintf(name, sizeof(name), "`%s`", bip_errname(i));
			*end = '\0';
			T_CHECK(strstr(at, name), "row for %u lacks %s", bip_cni_code(i), name);
			*end = '\n';
		}
	}
	for (unsigned c = 1; c <= 199; c++) {
		char row[32];

		snprintf(row, sizeof(row), "\n| %u |", c);
		if (strcmp(bip_cni_code_text(c), "unknown error") != 0)
			T_CHECK(strstr(doc, row), "code %u (%s) is not documented", c,
				bip_cni_code_text(c));
	}
	free(doc);
}

/* --- reported prefix length ---------------------------------------------------------------- */

static void test_report_len(void)
{
	struct bip_pool pools[2] = {{0}};
	struct bip_assigned a = {0};

	bip_prefix_parse_net("10.0.0.0/16", &pools[0].cidr);
	bip_prefix_parse_net("fd00::/48", &pools[1].cidr);
	bip_addr_parse("10.0.1.5", &a.addr);
	bip_prefix_parse_net("10.0.1.0/26", &a.block);
	T_CHECK_INT(bip_cni_report_len(BIP_CNI_PREFIX_BLOCK, &a, pools, 2), 26);
	T_CHECK_INT(bip_cni_report_len(BIP_CNI_PREFIX_POOL, &a, pools, 2), 16);
	T_CHECK_INT(bip_cni_report_len(BIP_CNI_PREFIX_HOST, &a, pools, 2), 32);
	T_CHECK_INT(bip_cni_report_len(BIP_CNI_PREFIX_POOL, &a, NULL, 0), 26);
	bip_addr_parse("fd00::5", &a.addr);
	bip_prefix_parse_net("fd00::/122", &a.block);
	T_CHECK_INT(bip_cni_report_len(BIP_CNI_PREFIX_POOL, &a, pools, 2), 48);
	T_CHECK_INT(bip_cni_report_len(BIP_CNI_PREFIX_HOST, &a, pools, 2), 128);
}

/* --- STATUS capacity ---------------------------------------------------------------------------- */

static void test_capacity(void)
{
	struct bip_pool pools[2] = {{.name = (char *)"p4", .block_len = 30},
				    {.name = (char *)"p6", .block_len = 126}};
	struct bip_block_info blk[3] ;
	struct bip_range ranges[2] ;
	bip_u128 used[2] = {0, 0};
	bool elig[2] = {true, true};
	static const struct {
		const char *what;
		unsigned pool4_len;   /* p4 CIDR length: 30 = one block, 29 = two */
		bool p4_disabled, p4_eligible;
		int nblocks;          /* how many of blk[] (0: none; 1: n1's /30) */
		uint64_t used0;       /* used addresses in blk[0] */
		const char *owner0;   /* blk[0] node */
		bool strict, auto_alloc;
		unsigned max_blocks;
		bool want6;
		bool ok;
	} rows[] = {
		{"empty pool, may claim", 30, false, true, 0, 0, "n1", false, true, 0, false, true},
		{"empty pool, no auto-allocation", 30, false, true, 0, 0, "n1", false, false, 0, false,
		 false},
		{"own block with room", 30, false, true, 1, 3, "n1", true, false, 0, false, true},
		{"own block full, pool full", 30, false, true, 1, 4, "n1", false, true, 0, false, false},
		{"own block full, pool has another", 29, false, true, 1, 4, "n1", false, true, 0, false,
		 true},
		{"own block full, block limit 1", 29, false, true, 1, 4, "n1", false, true, 1, false,
		 false},
		{"other's block with room, borrowing", 30, false, true, 1, 2, "n2", false, true, 0,
		 false, true},
		{"other's block with room, strict", 30, false, true, 1, 2, "n2", true, true, 0, false,
		 false},
		{"unowned block with room", 30, false, true, 1, 2, NULL, false, false, 0, false, true},
		{"disabled pool", 30, true, true, 0, 0, "n1", false, true, 0, false, false},
		{"pool not eligible", 30, false, false, 0, 0, "n1", false, true, 0, false, false},
		{"IPv6 wanted too, available", 30, false, true, 0, 0, "n1", false, true, 0, true, true},
	};

	memset(blk, 0, sizeof(blk));
	memset(ranges, 0, sizeof(ranges));
	bip_prefix_parse_net("fd00::/126", &pools[1].cidr);
	bip_prefix_parse_net("10.0.0.0/30", &blk[0].cidr);
	blk[0].pool = (char *)"p4";
	blk[0].size = 4;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct bip_cni_capacity_in in = {
			.node = "n1",
			.pools = pools,
			.npools = 2,
			.eligible = elig,
			.blocks = blk,
			.nblocks = (size_t)rows[i].nblocks,
			.want4 = true,
			.want6 = rows[i].want6,
		};
		char why[128] = "", cidr[32];

		snprintf(cidr, sizeof(cidr), "10.0.0.0/%u", rows[i].pool4_len);
		bip_prefix_parse_net(cidr, &pools[0].cidr);
		pools[0].disabled = rows[i].p4_disabled;
		elig[0] = rows[i].p4_eligible;
		blk[0].used = rows[i].used0;
		blk[0].node = (char *)rows[i].owner0;
		in.cfg = (struct bip_config){.strict_affinity = rows[i].strict,
					     .auto_allocate_blocks = rows[i].auto_alloc,
					     .max_blocks_per_host = rows[i].max_blocks};
		T_CHECK(bip_cni_capacity_ok(&in, why, sizeof(why)) == rows[i].ok, "row %zu: %s (%s)",
			i, rows[i].what, why);
		if (!rows[i].ok)
			T_CHECK(strstr(why, "IPv4") && strstr(why, "'n1'"), "row %zu: %s", i, why);
	}
	/* The main plugin's subnet rule: kept-out addresses are not free, a bridge uses only the
	 * node's first block and borrows nothing. blk[0] is n1's 10.0.0.0/30 with one address
	 * used; the pool 10.0.0.0/29 has a second block. */
	{
		static const struct {
			const char *what;
			enum bip_subnet_kind kind;
			unsigned max;
			bool no_borrow;
			const char *owner0;
			int nblocks;
			bool ok;
		} sr[] = {
			{"routed: 3 free in n1's block", BIP_SUBNET_NONE, 0, false, "n1", 1, true},
			{"bridge: n1's only block full (1 used + 3 kept out)", BIP_SUBNET_BLOCK, 1,
			 true, "n1", 1, false},
			{"bridge, n1 has no block: may claim", BIP_SUBNET_BLOCK, 1, true, "n1", 0,
			 true},
			{"block rule without a limit: may claim the second", BIP_SUBNET_BLOCK, 0, true,
			 "n1", 1, true},
			{"bridge: n2's block is not n1's subnet (the pool has room)", BIP_SUBNET_BLOCK,
			 1, true, "n2", 1, true},
			{"pool rule: 10.0.0.0/29 keeps .0, .1 (and .7) out; one left", BIP_SUBNET_POOL,
			 0, false, "n1", 1, true},
		};

		bip_prefix_parse_net("10.0.0.0/29", &pools[0].cidr);
		pools[0].disabled = false;
		elig[0] = true;
		blk[0].used = 1;
		for (size_t i = 0; i < sizeof(sr) / sizeof(sr[0]); i++) {
			struct bip_cni_capacity_in in = {
				.node = "n1",
				.pools = pools,
				.npools = 2,
				.eligible = elig,
				.blocks = blk,
				.nblocks = (size_t)sr[i].nblocks,
				.want4 = true,
				.cfg = {.auto_allocate_blocks = true},
			};
			char why[128] = "";

			blk[0].node = (char *)sr[i].owner0;
			in.subnet[0] = (struct bip_subnet_rule){.kind = sr[i].kind,
								.max_blocks = sr[i].max,
								.no_borrow = sr[i].no_borrow};
			T_CHECK(bip_cni_capacity_ok(&in, why, sizeof(why)) == sr[i].ok,
				"subnet row %zu: %s (%s)", i, sr[i].what, why);
		}
		/* pool rule on a one-block pool: .0, .1 and .3 kept out, .2 used: full */
		{
			struct bip_cni_capacity_in in = {
				.node = "n1", .pools = pools, .npools = 2, .eligible = elig,
				.blocks = blk, .nblocks = 1, .want4 = true,
				.cfg = {.auto_allocate_blocks = true},
			};
			char why[128] = "";

			bip_prefix_parse_net("10.0.0.0/30", &pools[0].cidr);
			blk[0].node = (char *)"n1";
			in.subnet[0].kind = BIP_SUBNET_POOL;
			T_CHECK(!bip_cni_capacity_ok(&in, why, sizeof(why)),
				"pool rule, one-block pool with 1 used: not full?");
			in.subnet[0].kind = BIP_SUBNET_NONE;
			T_CHECK(bip_cni_capacity_ok(&in, why, sizeof(why)), "routed: %s", why);
		}
	}
	/* host-local ranges: one set, two ranges; the gateway is not counted */
	bip_prefix_parse_net("10.1.0.0/30", &ranges[0].subnet);
	bip_addr_parse("10.1.0.1", &ranges[0].start);
	bip_addr_parse("10.1.0.2", &ranges[0].end);
	bip_addr_parse("10.1.0.1", &ranges[0].gateway);
	bip_prefix_parse_net("10.2.0.0/30", &ranges[1].subnet);
	bip_addr_parse("10.2.0.1", &ranges[1].start);
	bip_addr_parse("10.2.0.2", &ranges[1].end);
	for (int round = 0; round < 4; round++) {
		struct bip_cni_capacity_in in = {.node = "n1", .ranges = ranges, .nranges = 2,
						 .range_used = used, .want4 = true};
		char why[128];
		static const struct {
			bip_u128 u0, u1;
			int set1;
			bool ok;
		} r[] = {{0, 0, 0, true}, {1, 1, 0, true}, {1, 2, 0, false}, {0, 2, 1, false}};

		used[0] = r[round].u0;
		used[1] = r[round].u1;
		ranges[1].set = r[round].set1;
		T_CHECK(bip_cni_capacity_ok(&in, why, sizeof(why)) == r[round].ok, "ranges %d: %s",
			round, why);
	}
}

/* --- bad input never reaches the store ------------------------------------------------------- */

static void test_bad_input_no_store(void)
{
	char dir[] = "/tmp/bip-cni-XXXXXX", db[256], store[300], conf[1024];
	static const struct {
		const char *env[8];
		const char *ipam_extra;
		const char *top_extra;
	} rows[] = {
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=a/b"}, "", ""},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
		  "CNI_ARGS=X=1"},
		 "",
		 ""},
		{{ENV_ADD}, ",'assign_ipv4':'maybe'", ""},
		{{ENV_ADD}, ",'routes':[{'dst':'10.0.0.1/8'}]", ""},
		{{ENV_ADD}, "", ",'runtimeConfig':{'ips':['10.0.0.300']}"},
		{{ENV_ADD, "BLOCKIPAM_NODE=bad node"}, "", ""},
		{{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c1"}, "", ""},
		{{"CNI_COMMAND=CHECK", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0"}, "",
		 ""},
		{{"CNI_COMMAND=GC", "CNI_PATH=/x"}, "", ""},
		{{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0"},
		 ",'ranges':[[{'subnet':'10.0.0.0/24'}],[{'subnet':'10.0.0.0/25'}]]",
		 ""},
	};
	struct stat st;

	T_REQUIRE(mkdtemp(dir) != NULL, "line %d", __LINE__);
	snprintf(db, sizeof(db), "%s/ipam.db", dir);
	snprintf(store, sizeof(store), "sqlite://%s", db);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *json, *out = NULL;

		snprintf(conf, sizeof(conf),
			 "{'cniVersion':'1.1.0','name':'n','ipam':{'type':'blockipam','store':'%s'%s}"
			 "%s}",
			 store, rows[i].ipam_extra, rows[i].top_extra);
		json = tu_dq(conf);
		T_CHECK_INT(tu_run(rows[i].env, json, &out), 1);
		T_CHECK(tu_code(out) != 0, "row %zu: %s", i, out);
		T_CHECK(stat(db, &st) != 0, "row %zu: the store was created: %s", i, out);
		free(out);
		free(json);
	}
	rmdir(dir);
}

T_MAIN(T(test_env), T(test_env_values), T(test_cni_args), T(test_config_top),
       T(test_config_ipam), T(test_config_ranges), T(test_config_request), T(test_config_values), T(test_config_model),
       T(test_config_ranges_values), T(test_requested_ips), T(test_annotation_pools),
       T(test_gc_attachments), T(test_config_size_limit), T(test_resolv), T(test_names),
       T(test_version_output), T(test_version_gating), T(test_result_format), T(test_error_json),
       T(test_error_version), T(test_error_table), T(test_error_doc), T(test_report_len),
       T(test_capacity), T(test_bad_input_no_store))
