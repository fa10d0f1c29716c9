/*
 * host-local's "resolvConf": read a resolv.conf file into the result's dns, the way host-local's
 * dns.go does: "nameserver" lines add servers, "domain" sets the domain, "search" replaces the
 * search list, "options" add options; '#' and ';' start comments. The strings live in one
 * jansson object owned by the config (c->resolv), so that they are freed with everything else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

#define RESOLV_MAX (64u << 10)

static int append_words(json_t *arr, char *rest)
{
	char *save = NULL;

	for (char *w = strtok_r(rest, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (json_array_append_new(arr, json_string(w)))
			return -1;
	return 0;
}

int bip_cni_resolv_parse(const char *text, const char *path, struct bip_cni_conf *c,
			 struct bip_cni_err *e)
{
	json_t *o = json_pack("{s:[],s:[],s:[]}", "nameservers", "search", "options");
	char *copy = strdup(text);
	int rc = 0, lineno = 0;

	if (!o || !copy) {
		rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
		goto out;
	}
	for (char *line = copy, *next; line; line = next) {
		char *kw, *rest, *wsave = NULL, *w;
		size_t k;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line[strcspn(line, "#;\r")] = '\0';
		kw = line + strspn(line, " \t");
		k = strcspn(kw, " \t");
		if (!k)
			continue;
		rest = kw + k;
		if (*rest)
			*rest++ = '\0';
		if (strcmp(kw, "nameserver") == 0) {
			struct bip_addr a;

			w = strtok_r(rest, " \t", &wsave);
			if (!w || bip_addr_parse(w, &a) != BIP_OK) {
				rc =
				    bip_cni_errf(e, BIP_CNI_ECONFIG,
						 "invalid ipam.resolvConf '%s' line %d: nameserver "
						 "'%s' is not an IP address",
						 path, lineno, w ? w : "");
				goto out;
			}
			if (json_array_append_new(json_object_get(o, "nameservers"),
						  json_string(w)))
				goto oom;
		} else if (strcmp(kw, "domain") == 0) {
			w = strtok_r(rest, " \t", &wsave);
			if (w && json_object_set_new(o, "domain", json_string(w)))
				goto oom;
		} else if (strcmp(kw, "search") == 0) {
			json_array_clear(json_object_get(o, "search"));
			if (append_words(json_object_get(o, "search"), rest))
				goto oom;
		} else if (strcmp(kw, "options") == 0) {
			if (append_words(json_object_get(o, "options"), rest))
				goto oom;
		}
	}
	c->resolv = o;
	o = NULL;
	c->dns.domain = json_string_value(json_object_get(c->resolv, "domain"));
	rc = bip_cni_json_strings(json_object_get(c->resolv, "nameservers"), "resolvConf",
				  &c->dns.nameservers, &c->dns.nnameservers, e);
	if (!rc)
		rc = bip_cni_json_strings(json_object_get(c->resolv, "search"), "resolvConf",
					  &c->dns.search, &c->dns.nsearch, e);
	if (!rc)
		rc = bip_cni_json_strings(json_object_get(c->resolv, "options"), "resolvConf",
					  &c->dns.options, &c->dns.noptions, e);
	goto out;
oom:
	rc = bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
out:
	json_decref(o);
	free(copy);
	return rc;
}

int bip_cni_resolv_load(const char *path, struct bip_cni_conf *c, struct bip_cni_err *e)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int rc;

	if (!f)
		return bip_cni_errf(e, BIP_CNI_ECONFIG,
				    "invalid ipam.resolvConf: cannot open '%s': %s", path,
				    strerror(errno));
	buf = malloc(RESOLV_MAX + 1);
	if (!buf) {
		fclose(f);
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	}
	n = fread(buf, 1, RESOLV_MAX + 1, f);
	if (ferror(f))
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid ipam.resolvConf: cannot read '%s'",
				  path);
	else if (n > RESOLV_MAX)
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG,
				  "invalid ipam.resolvConf '%s': larger than %u bytes", path,
				  RESOLV_MAX);
	else if (memchr(buf, '\0', n))
		rc = bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid ipam.resolvConf '%s': not text",
				  path);
	else {
		buf[n] = '\0';
		rc = bip_cni_resolv_parse(buf, path, c, e);
	}
	free(buf);
	fclose(f);
	return rc;
}
