/*
 * The network configuration: the top level (cniVersion, name) and the ipam section. Everything is
 * checked here, before the store is opened: a wrong type or value is code 7 naming the field
 * ("ipam.assign_ipv4") and the value; unknown fields are ignored, as the spec asks.
 *
 * ipam fields (docs/cni.md has the full reference):
 *   type             required, any non-empty string (the binary's name)
 *   store            store address (else $BLOCKIPAM_STORE, else the default)
 *   store_prefix, store_ca_file, store_cert_file, store_key_file, timeout_ms
 *   node             node name (else $BLOCKIPAM_NODE, else the host name)
 *   pools            {"ipv4": [...], "ipv6": [...]}: pool names or CIDRs (blockipam spelling)
 *   ipv4_pools, ipv6_pools   the same in Calico's spelling (one spelling per family)
 *   assign_ipv4, assign_ipv6 booleans or Calico's "true"/"false" (defaults true / false)
 *   prefix_length    "block" (default) | "pool" | "host": the length printed with each address
 *   gateway          block mode: an address, or a list of one per family, to report
 *   routes, dns      copied to the result; resolvConf fills dns from a file (host-local)
 *   ranges, subnet, rangeStart, rangeEnd, gateway   host-local mode (ranges.c)
 *   dataDir          host-local mode without a store: the store is a file under it (run.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/version.h"
#include "cni.h"

/* --- version ------------------------------------------------------------------------------ */

static const char *const versions[BIP_CNI_V__COUNT] = {BIP_CNI_SPEC_VERSIONS};

const char *bip_cni_version_str(enum bip_cni_version v)
{
	return v < BIP_CNI_V__COUNT ? versions[v] : versions[BIP_CNI_VERSION_LATEST];
}

int bip_cni_version_parse(const char *s, enum bip_cni_version *out)
{
	for (int i = 0; i < BIP_CNI_V__COUNT; i++) {
		if (s && strcmp(s, versions[i]) == 0) {
			*out = (enum bip_cni_version)i;
			return BIP_OK;
		}
	}
	return BIP_EINVAL;
}

static void supported_list(char *buf, size_t n)
{
	size_t off = 0;

	for (int i = 0; i < BIP_CNI_V__COUNT && off < n; i++)
		off +=
		    (size_t)snprintf(buf + off, n - off, "%s\"%s\"", i ? ", " : "[", versions[i]);
	if (off < n)
		snprintf(buf + off, n - off, "]");
}

static int parse_version(json_t *root, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	json_t *v = json_object_get(root, "cniVersion");
	char list[128];

	if (v && !json_is_string(v))
		return bip_cni_type_err(e, "cniVersion", v, "a string");
	supported_list(list, sizeof(list));
	if (!v || bip_cni_version_parse(json_string_value(v), &c->version) != BIP_OK) {
		bip_cni_errf(e, BIP_CNI_EVERSION, "incompatible CNI versions");
		bip_cni_err_details(e, "config is \"%s\", plugin supports %s",
				    v ? json_string_value(v) : "", list);
		return BIP_CNI_EVERSION;
	}
	c->version_str = versions[c->version];
	return 0;
}

const char *bip_cni_conf_peek_version(const char *buf, size_t len, char *vbuf, size_t vlen)
{
	json_t *root;
	enum bip_cni_version v;
	const char *s = NULL;

	if (!buf || len == 0 || len > BIP_CNI_CONFIG_MAX)
		return NULL;
	root = json_loadb(buf, len, 0, NULL);
	if (json_is_object(root) &&
	    bip_cni_version_parse(json_string_value(json_object_get(root, "cniVersion")), &v) ==
		BIP_OK) {
		snprintf(vbuf, vlen, "%s", versions[v]);
		s = vbuf;
	}
	json_decref(root);
	return s;
}

/* --- ipam --------------------------------------------------------------------------------- */

static int add_pools(json_t *arr, const char *field, int family, const char ***list, size_t *n,
		     struct bip_cni_err *e)
{
	const char **v = NULL;
	size_t k = 0;
	int rc = bip_cni_json_strings(arr, field, &v, &k, e);

	if (rc)
		return rc;
	for (size_t i = 0; i < k; i++) {
		char why[160];

		if (!bip_cni_poolref_ok(v[i], family, why, sizeof(why))) {
			free(v);
			return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s[%zu]: %s", field, i,
					    why);
		}
	}
	*list = v;
	*n = k;
	return 0;
}

static int parse_pools(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	json_t *ours = json_object_get(ipam, "pools");
	json_t *src[2] = {json_object_get(ipam, "ipv4_pools"), json_object_get(ipam, "ipv6_pools")};
	const char *names[2] = {"ipam.ipv4_pools", "ipam.ipv6_pools"};
	const char **fam[2] = {NULL, NULL};
	size_t n[2] = {0, 0};
	int rc = 0;

	if (ours && !json_is_object(ours))
		return bip_cni_type_err(e, "ipam.pools", ours,
					"an object {\"ipv4\": [...], \"ipv6\": [...]}");
	for (int f = 0; f < 2; f++) {
		json_t *o = ours ? json_object_get(ours, f ? "ipv6" : "ipv4") : NULL;

		if (o && src[f]) {
			rc = bip_cni_errf(e, BIP_CNI_ECONFIG,
					  "ipam.pools.%s and %s both given: use one spelling",
					  f ? "ipv6" : "ipv4", names[f]);
			goto out;
		}
		if (o) {
			src[f] = o;
			names[f] = f ? "ipam.pools.ipv6" : "ipam.pools.ipv4";
		}
		if (src[f]) {
			rc = add_pools(src[f], names[f], f ? 6 : 4, &fam[f], &n[f], e);
			if (rc)
				goto out;
		}
	}
	if (c->host_local && (n[0] || n[1])) {
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG,
				  "%s cannot be combined with host-local ranges (ipam.ranges / "
				  "ipam.subnet)",
				  n[0] ? names[0] : names[1]);
		goto out;
	}
	c->pools = calloc(n[0] + n[1] + 1, sizeof(*c->pools));
	if (!c->pools) {
		rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n[0]; i++)
		c->pools[i] = fam[0][i];
	for (size_t i = 0; i < n[1]; i++)
		c->pools[n[0] + i] = fam[1][i];
	c->npools4 = n[0];
	c->npools6 = n[1];
out:
	free(fam[0]);
	free(fam[1]);
	return rc;
}

static int parse_assign(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	int rc;

	c->assign4 = true;
	c->assign6 = false;
	if (c->host_local) {
		const char *k = json_object_get(ipam, "assign_ipv4")   ? "ipam.assign_ipv4"
				: json_object_get(ipam, "assign_ipv6") ? "ipam.assign_ipv6"
								       : NULL;

		if (k)
			return bip_cni_errf(
			    e, BIP_CNI_ECONFIG,
			    "%s cannot be combined with host-local ranges: each range "
			    "set gives one address",
			    k);
		c->assign4 = c->nsets4 > 0 || c->use_pod_cidr4;
		c->assign6 = c->nsets6 > 0 || c->use_pod_cidr6;
		return 0;
	}
	rc = bip_cni_json_bool(ipam, "assign_ipv4", "ipam.assign_ipv4", &c->assign4, e);
	if (!rc)
		rc = bip_cni_json_bool(ipam, "assign_ipv6", "ipam.assign_ipv6", &c->assign6, e);
	if (!rc && !c->assign4 && !c->assign6)
		rc = bip_cni_errf(
		    e, BIP_CNI_ECONFIG,
		    "invalid ipam.assign_ipv4 and ipam.assign_ipv6: both false, nothing "
		    "to assign");
	return rc;
}

static int parse_prefix_mode(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	static const char *const modes[] = {"block", "pool", "host"};
	const char *s = NULL;
	int rc = bip_cni_json_str(ipam, "prefix_length", "ipam.prefix_length", false, &s, e);

	if (rc || !s)
		return rc;
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, modes[i]) == 0) {
			c->prefix_mode = (enum bip_cni_prefix_mode)i;
			c->prefix_set = true;
			return 0;
		}
	}
	return bip_cni_errf(e, BIP_CNI_ECONFIG,
			    "invalid ipam.prefix_length '%s': want \"block\", \"pool\" or \"host\"",
			    s);
}

/* Block mode only: host-local's "gateway" belongs to its subnet (ranges.c). */
static int parse_gateway(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	json_t *g = json_object_get(ipam, "gateway");
	json_t *list = g;
	size_t i;
	json_t *v;

	if (!g || c->host_local)
		return 0;
	if (json_is_string(g)) {
		list = json_array();
		if (!list || json_array_append(list, g))
			return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	} else if (!json_is_array(g) || json_array_size(g) == 0 || json_array_size(g) > 2) {
		return bip_cni_type_err(e, "ipam.gateway", g,
					"an IP address or a list of one IPv4 and one IPv6 address");
	}
	json_array_foreach(list, i, v)
	{
		struct bip_addr a;
		char f[48];
		int rc;

		if (json_is_array(g))
			snprintf(f, sizeof(f), "ipam.gateway[%zu]", i);
		else
			snprintf(f, sizeof(f), "ipam.gateway");
		rc = bip_cni_json_addr(v, f, &a, e);
		if (!rc && (a.family == 4 ? c->gateway4.family : c->gateway6.family))
			rc = bip_cni_errf(e, BIP_CNI_ECONFIG,
					  "invalid %s: a second IPv%d gateway '%s'", f, a.family,
					  json_string_value(v));
		if (rc) {
			if (list != g)
				json_decref(list);
			return rc;
		}
		if (a.family == 4)
			c->gateway4 = a;
		else
			c->gateway6 = a;
	}
	if (list != g)
		json_decref(list);
	return 0;
}

static int parse_route(json_t *r, size_t i, struct bip_cni_route *out, struct bip_cni_err *e)
{
	static const struct {
		const char *key;
		long max;
		size_t off;
	} ints[] = {
	    {"mtu", 65535, offsetof(struct bip_cni_route, mtu)},
	    {"advmss", 65535, offsetof(struct bip_cni_route, advmss)},
	    {"priority", 0x7fffffff, offsetof(struct bip_cni_route, priority)},
	    {"table", 0x7fffffff, offsetof(struct bip_cni_route, table)},
	    {"scope", 255, offsetof(struct bip_cni_route, scope)},
	};
	char f[64];
	const char *dst = NULL;
	json_t *gw;
	int rc;

	snprintf(f, sizeof(f), "ipam.routes[%zu]", i);
	if (!json_is_object(r))
		return bip_cni_type_err(e, f, r, "an object {\"dst\": CIDR, \"gw\": address}");
	snprintf(f, sizeof(f), "ipam.routes[%zu].dst", i);
	rc = bip_cni_json_str(r, "dst", f, true, &dst, e);
	if (rc)
		return rc;
	rc = bip_prefix_parse_net(dst, &out->dst);
	if (rc == BIP_EHOSTBITS)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s: '%s' has host bits set", f,
				    dst);
	if (rc != BIP_OK)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s: '%s' is not a CIDR", f, dst);
	gw = json_object_get(r, "gw");
	if (gw) {
		snprintf(f, sizeof(f), "ipam.routes[%zu].gw", i);
		rc = bip_cni_json_addr(gw, f, &out->gw, e);
		if (rc)
			return rc;
		if (out->gw.family != out->dst.addr.family)
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid %s: '%s' is not of the family of dst '%s'", f,
					    json_string_value(gw), dst);
	}
	for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
		long *p = (long *)((char *)out + ints[k].off);

		*p = -1;
		snprintf(f, sizeof(f), "ipam.routes[%zu].%s", i, ints[k].key);
		rc = bip_cni_json_long(r, ints[k].key, f, 0, ints[k].max, p, e);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_routes(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	json_t *routes = json_object_get(ipam, "routes");
	size_t i;
	json_t *r;

	if (!routes)
		return 0;
	if (!json_is_array(routes))
		return bip_cni_type_err(e, "ipam.routes", routes, "a list of routes");
	c->routes = calloc(json_array_size(routes) + 1, sizeof(*c->routes));
	if (!c->routes)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	json_array_foreach(routes, i, r)
	{
		int rc = parse_route(r, i, &c->routes[i], e);

		if (rc)
			return rc;
		c->nroutes++;
	}
	return 0;
}

static int parse_dns(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	json_t *dns = json_object_get(ipam, "dns");
	json_t *v;
	const char *resolv = NULL;
	int rc;

	rc = bip_cni_json_str(ipam, "resolvConf", "ipam.resolvConf", false, &resolv, e);
	if (rc)
		return rc;
	if (dns && resolv)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "ipam.dns and ipam.resolvConf both given: use one");
	if (resolv)
		return bip_cni_resolv_load(resolv, c, e);
	if (!dns)
		return 0;
	if (!json_is_object(dns))
		return bip_cni_type_err(e, "ipam.dns", dns, "an object");
	if ((v = json_object_get(dns, "nameservers"))) {
		rc = bip_cni_json_strings(v, "ipam.dns.nameservers", &c->dns.nameservers,
					  &c->dns.nnameservers, e);
		if (rc)
			return rc;
		for (size_t i = 0; i < c->dns.nnameservers; i++) {
			struct bip_addr a;

			if (bip_addr_parse(c->dns.nameservers[i], &a) != BIP_OK)
				return bip_cni_errf(
				    e, BIP_CNI_ECONFIG,
				    "invalid ipam.dns.nameservers[%zu]: '%s' is not "
				    "an IP address",
				    i, c->dns.nameservers[i]);
		}
	}
	if ((v = json_object_get(dns, "domain"))) {
		if (!json_is_string(v))
			return bip_cni_type_err(e, "ipam.dns.domain", v, "a string");
		c->dns.domain = json_string_value(v);
	}
	if ((v = json_object_get(dns, "search"))) {
		rc = bip_cni_json_strings(v, "ipam.dns.search", &c->dns.search, &c->dns.nsearch, e);
		if (rc)
			return rc;
	}
	if ((v = json_object_get(dns, "options"))) {
		rc = bip_cni_json_strings(v, "ipam.dns.options", &c->dns.options, &c->dns.noptions,
					  e);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_store(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	static const struct {
		const char *key, *field;
		size_t off;
	} files[] = {
	    {"store_ca_file", "ipam.store_ca_file", offsetof(struct bip_cni_conf, store_ca_file)},
	    {"store_cert_file", "ipam.store_cert_file",
	     offsetof(struct bip_cni_conf, store_cert_file)},
	    {"store_key_file", "ipam.store_key_file",
	     offsetof(struct bip_cni_conf, store_key_file)},
	};
	char why[256];
	int rc;

	rc = bip_cni_json_str(ipam, "store", "ipam.store", false, &c->store, e);
	if (rc)
		return rc;
	if (c->store && !bip_cni_store_addr_ok(c->store, why, sizeof(why)))
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid ipam.store: %s", why);
	rc =
	    bip_cni_json_str(ipam, "store_prefix", "ipam.store_prefix", false, &c->store_prefix, e);
	if (rc)
		return rc;
	if (c->store_prefix &&
	    (c->store_prefix[0] != '/' || c->store_prefix[strlen(c->store_prefix) - 1] != '/'))
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid ipam.store_prefix '%s': must start and end with '/'",
				    c->store_prefix);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char **p = (const char **)((char *)c + files[i].off);

		rc = bip_cni_json_str(ipam, files[i].key, files[i].field, false, p, e);
		if (rc)
			return rc;
		if (*p && **p != '/')
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid %s '%s': must be an absolute path",
					    files[i].field, *p);
	}
	return bip_cni_json_long(ipam, "timeout_ms", "ipam.timeout_ms", 1, 600000, &c->timeout_ms,
				 e);
}

/*
 * host-local's dataDir. With explicit ranges and no ipam.store the store is a file in the
 * network's directory under it, where host-local keeps its state (run.c); anywhere else
 * (block mode, usePodCidr, an explicit store) it is accepted and ignored.
 */
static int parse_data_dir(const char *dir, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	if (!dir || !c->nranges || c->store)
		return 0;
	if (dir[0] != '/')
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid ipam.dataDir '%s': must be an absolute path", dir);
	if (strlen(dir) > BIP_CNI_DATADIR_MAX)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid ipam.dataDir: longer than %d bytes",
				    BIP_CNI_DATADIR_MAX);
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return bip_cni_errf(e, BIP_CNI_ECONFIG,
					    "invalid ipam.dataDir: control character in '%s'", dir);
	c->data_dir = dir;
	return 0;
}

static int parse_ipam(json_t *ipam, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	const char *type = NULL, *data_dir = NULL;
	int rc;

	rc = bip_cni_json_str(ipam, "type", "ipam.type", true, &type, e);
	if (!rc)
		rc = parse_store(ipam, c, e);
	if (!rc)
		rc = bip_cni_json_str(ipam, "node", "ipam.node", false, &c->node, e);
	if (!rc && c->node && !bip_cni_name_ok(c->node, BIP_NAME_MAX))
		rc = bip_cni_errf(
		    e, BIP_CNI_ECONFIG,
		    "invalid ipam.node '%s': must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$, "
		    "at most %d bytes",
		    c->node, BIP_NAME_MAX);
	if (!rc)
		rc = bip_cni_json_str(ipam, "dataDir", "ipam.dataDir", false, &data_dir, e);
	if (!rc)
		rc = bip_cni_ranges_parse(ipam, c, e);
	if (!rc)
		rc = parse_data_dir(data_dir, c, e);
	if (!rc)
		rc = parse_pools(ipam, c, e);
	if (!rc)
		rc = parse_assign(ipam, c, e);
	if (!rc)
		rc = parse_prefix_mode(ipam, c, e);
	if (!rc)
		rc = parse_gateway(ipam, c, e);
	if (!rc)
		rc = parse_routes(ipam, c, e);
	if (!rc)
		rc = parse_dns(ipam, c, e);
	return rc;
}

/*
 * The main plugin's model from the top-level "type" (block mode only), its default prefix
 * length, and the combinations that cannot work with it, refused before anything happens:
 * they would fail inside the main plugin or give a pod a broken network.
 */
static int parse_model(json_t *root, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	static const char *const lens[] = {"block", "pool", "host"};
	json_t *t = json_object_get(root, "type");
	const char *type;
	int rc = 0;

	if (!t)
		return 0;
	if (!json_is_string(t) || !json_string_length(t))
		return bip_cni_type_err(e, "type", t, "the main plugin's name");
	type = c->main_type = json_string_value(t);
	if (strcmp(type, "bridge") == 0)
		c->model = BIP_CNI_MODEL_BRIDGE;
	else if (strcmp(type, "ptp") == 0)
		c->model = BIP_CNI_MODEL_PTP;
	else if (strcmp(type, "macvlan") == 0 || strcmp(type, "ipvlan") == 0)
		c->model = BIP_CNI_MODEL_MACVLAN;
	else
		c->model = BIP_CNI_MODEL_OTHER;
	c->default_gw = json_is_true(json_object_get(root, "isDefaultGateway"));
	if (c->host_local)
		return 0;
	if (!c->prefix_set)
		c->prefix_mode =
		    c->model == BIP_CNI_MODEL_BRIDGE ? BIP_CNI_PREFIX_BLOCK : BIP_CNI_PREFIX_POOL;
	if (c->model == BIP_CNI_MODEL_BRIDGE && c->prefix_mode != BIP_CNI_PREFIX_BLOCK)
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG,
				  "invalid ipam.prefix_length '%s' with type bridge: the bridge's "
				  "subnet is the node's block (the bridge takes one IPv4 subnet); "
				  "remove prefix_length",
				  lens[c->prefix_mode]);
	else if (c->model == BIP_CNI_MODEL_BRIDGE && (c->gateway4.family || c->gateway6.family))
		rc =
		    bip_cni_errf(e, BIP_CNI_ECONFIG,
				 "invalid ipam.gateway with type bridge: each node's subnet is its "
				 "block and its gateway the block's network+1, which the bridge "
				 "takes (isGateway); remove ipam.gateway");
	else if ((c->model == BIP_CNI_MODEL_PTP || c->model == BIP_CNI_MODEL_MACVLAN) &&
		 c->prefix_mode == BIP_CNI_PREFIX_HOST)
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG,
				  "invalid ipam.prefix_length 'host' with type %s: %s reaches the "
				  "gateway through the pod's prefix; use \"pool\" (the default) or "
				  "\"block\"",
				  type, type);
	return rc;
}

const char *bip_cni_model_name(const struct bip_cni_conf *c)
{
	return c->main_type ? c->main_type : "(none)";
}

void bip_cni_subnet_rules(const struct bip_cni_conf *c, struct bip_subnet_rule rules[2])
{
	memset(rules, 0, 2 * sizeof(*rules));
	if (c->host_local || c->model == BIP_CNI_MODEL_NONE ||
	    c->prefix_mode == BIP_CNI_PREFIX_HOST)
		return;
	for (int f = 0; f < 2; f++) {
		struct bip_subnet_rule *r = &rules[f];

		r->kind =
		    c->prefix_mode == BIP_CNI_PREFIX_POOL ? BIP_SUBNET_POOL : BIP_SUBNET_BLOCK;
		r->gateway = f ? c->gateway6 : c->gateway4;
		/* ptp routes every pod, so an address of another node's block works there;
		 * on an L2 subnet it would not (and the bridge would refuse its gateway). */
		r->no_borrow = c->model != BIP_CNI_MODEL_PTP && r->kind == BIP_SUBNET_BLOCK;
		/* The bridge plugin accepts one IPv4 address per bridge, IPv6 ones per subnet. */
		r->max_blocks = c->model == BIP_CNI_MODEL_BRIDGE && f == 0;
	}
}

int bip_cni_conf_parse(const char *buf, size_t len, enum bip_cni_cmd cmd,
		       const struct bip_cni_env *env, struct bip_cni_conf *out,
		       struct bip_cni_err *e)
{
	struct bip_cni_conf *c = out;
	json_error_t jerr;
	json_t *ipam, *name;
	int rc;

	memset(c, 0, sizeof(*c));
	if (len > BIP_CNI_CONFIG_MAX)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "network configuration is larger than 1 MiB (%zu bytes)", len);
	if (!buf || len == 0)
		return bip_cni_errf(e, BIP_CNI_EDECODE, "no network configuration on stdin");
	c->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!c->root)
		return bip_cni_errf(
		    e, BIP_CNI_EDECODE,
		    "network configuration is not valid JSON: %s (line %d, column %d)", jerr.text,
		    jerr.line, jerr.column);
	if (!json_is_object(c->root)) {
		rc = bip_cni_errf(e, BIP_CNI_EDECODE,
				  "network configuration is not a JSON object but %s",
				  bip_cni_json_type(c->root));
		goto fail;
	}
	rc = parse_version(c->root, c, e);
	if (rc)
		goto fail;
	name = json_object_get(c->root, "name");
	if (!name) {
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG, "missing name");
		goto fail;
	}
	if (!json_is_string(name)) {
		rc = bip_cni_type_err(e, "name", name, "a string");
		goto fail;
	}
	c->name = json_string_value(name);
	if (!bip_cni_name_ok(c->name, BIP_CNI_NAME_MAX)) {
		rc =
		    bip_cni_errf(e, BIP_CNI_ECONFIG,
				 "invalid name '%s': must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$, at "
				 "most %d bytes",
				 c->name, BIP_CNI_NAME_MAX);
		goto fail;
	}
	ipam = json_object_get(c->root, "ipam");
	if (!ipam) {
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG, "missing ipam section");
		goto fail;
	}
	if (!json_is_object(ipam)) {
		rc = bip_cni_type_err(e, "ipam", ipam, "an object");
		goto fail;
	}
	rc = parse_ipam(ipam, c, e);
	if (!rc)
		rc = parse_model(c->root, c, e);
	if (!rc)
		rc = bip_cni_request_parse(c->root, cmd, env, c, e);
	if (!rc)
		return 0;
fail:
	bip_cni_conf_free(c);
	return rc;
}

void bip_cni_conf_free(struct bip_cni_conf *c)
{
	if (!c)
		return;
	free(c->pools);
	free(c->routes);
	free(c->dns.nameservers);
	free(c->dns.search);
	free(c->dns.options);
	json_decref(c->resolv);
	free(c->ranges);
	free(c->ips);
	free(c->ann_pools);
	for (size_t i = 0; i < sizeof(c->ann_json) / sizeof(c->ann_json[0]); i++)
		json_decref(c->ann_json[i]);
	free(c->prev_ips);
	free(c->valid);
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}
