/*
 * What the plugin prints: a success result in the exact shape of the config's cniVersion, an
 * error object, or the VERSION answer. Built with jansson, printed compact on one line.
 *
 * Shapes (an IPAM plugin's abbreviated result: no "interfaces", no "interface" index):
 *   0.3.0, 0.3.1, 0.4.0   ips[] carry "version": "4" | "6"
 *   1.0.0, 1.1.0          ips[] carry no version
 *   1.1.0                 routes may carry mtu, advmss, priority, table, scope
 * "dns" is always present (an empty object when there is nothing), as the reference plugins
 * print it; "routes" only when there are some.
 */
#include <stdlib.h>
#include <string.h>

#include "cni.h"

/* json_dumps plus a newline; takes the reference to j. */
static char *finish(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char *line = NULL;

	if (s) {
		size_t n = strlen(s);

		line = malloc(n + 2);
		if (line) {
			memcpy(line, s, n);
			line[n] = '\n';
			line[n + 1] = '\0';
		}
	}
	free(s);
	json_decref(j);
	return line;
}

static int set_addr(json_t *o, const char *key, struct bip_addr a)
{
	char buf[BIP_ADDR_STRLEN];

	return json_object_set_new(o, key, json_string(bip_addr_fmt(a, buf)));
}

static int set_prefix(json_t *o, const char *key, struct bip_prefix p)
{
	char buf[BIP_PREFIX_STRLEN];

	return json_object_set_new(o, key, json_string(bip_prefix_fmt(p, buf)));
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *dns_json(const struct bip_cni_dns *d)
{
	json_t *o = json_object();

	if (!o || !d)
		return o;
	if ((d->nnameservers &&
	     json_object_set_new(o, "nameservers", strings(d->nameservers, d->nnameservers))) ||
	    (d->domain && json_object_set_new(o, "domain", json_string(d->domain))) ||
	    (d->nsearch && json_object_set_new(o, "search", strings(d->search, d->nsearch))) ||
	    (d->noptions && json_object_set_new(o, "options", strings(d->options, d->noptions)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *route_json(const struct bip_cni_route *r, enum bip_cni_version v)
{
	const struct {
		const char *key;
		long val;
	} extra[] = {
	    {"mtu", r->mtu},	 {"advmss", r->advmss}, {"priority", r->priority},
	    {"table", r->table}, {"scope", r->scope},
	};
	json_t *o = json_object();

	if (!o || set_prefix(o, "dst", r->dst) || (r->gw.family && set_addr(o, "gw", r->gw)))
		goto fail;
	for (size_t i = 0; v >= BIP_CNI_V110 && i < sizeof(extra) / sizeof(extra[0]); i++)
		if (extra[i].val >= 0 &&
		    json_object_set_new(o, extra[i].key, json_integer(extra[i].val)))
			goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

char *bip_cni_result_json(const struct bip_cni_result *r, enum bip_cni_version v)
{
	json_t *o = json_object(), *ips = json_array(), *routes = NULL;

	if (!o || !ips || json_object_set_new(o, "cniVersion", json_string(bip_cni_version_str(v))))
		goto fail;
	for (size_t i = 0; i < r->nips; i++) {
		const struct bip_cni_ip *ip = &r->ips[i];
		json_t *e = json_object();

		if (!e || json_array_append_new(ips, e))
			goto fail;
		if (v < BIP_CNI_V100 &&
		    json_object_set_new(e, "version",
					json_string(ip->address.addr.family == 4 ? "4" : "6")))
			goto fail;
		if (set_prefix(e, "address", ip->address) ||
		    (ip->gateway.family && set_addr(e, "gateway", ip->gateway)))
			goto fail;
	}
	if (json_object_set(o, "ips", ips))
		goto fail;
	if (r->nroutes) {
		routes = json_array();
		if (!routes || json_object_set(o, "routes", routes))
			goto fail;
		for (size_t i = 0; i < r->nroutes; i++)
			if (json_array_append_new(routes, route_json(&r->routes[i], v)))
				goto fail;
	}
	if (json_object_set_new(o, "dns", dns_json(r->dns)))
		goto fail;
	json_decref(ips);
	json_decref(routes);
	return finish(o);
fail:
	json_decref(ips);
	json_decref(routes);
	json_decref(o);
	return NULL;
}

/* Messages quote input verbatim; JSON needs UTF-8, so anything beyond ASCII becomes '?'. */
static void ascii(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n && src[i]; i++)
		dst[i] = (unsigned char)src[i] < 0x80 ? src[i] : '?';
	dst[i] = '\0';
}

char *bip_cni_error_json(const struct bip_cni_err *e, const char *cni_version)
{
	char msg[sizeof(e->msg)], details[sizeof(e->details)];

	ascii(msg, e->msg, sizeof(msg));
	ascii(details, e->details, sizeof(details));
	return finish(
	    json_pack("{s:s,s:I,s:s,s:s}", "cniVersion",
		      cni_version ? cni_version : bip_cni_version_str(BIP_CNI_VERSION_LATEST),
		      "code", (json_int_t)e->code, "msg", msg, "details", details));
}

char *bip_cni_version_json(const char *cni_version)
{
	json_t *list = json_array();

	for (int i = 0; list && i < BIP_CNI_V__COUNT; i++)
		if (json_array_append_new(list, json_string(bip_cni_version_str(i)))) {
			json_decref(list);
			list = NULL;
		}
	if (!list)
		return NULL;
	return finish(
	    json_pack("{s:s,s:o}", "cniVersion",
		      cni_version ? cni_version : bip_cni_version_str(BIP_CNI_VERSION_LATEST),
		      "supportedVersions", list));
}
