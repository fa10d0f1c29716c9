/*
 * node set NAME --label k=v --pod-cidr CIDR --address ADDR: a convenience over get/patch/apply.
 * The change is made on the node's manifest form and goes through the same conversion and
 * validation as apply, so both paths accept and refuse the same things.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "node set",
    "NAME [--label KEY=VALUE | --label KEY-]... [--pod-cidr CIDR]... [--address ADDR]...",
    "Change a node (creating it if it does not exist).\n"
    "\n"
    "Options (each may be repeated):\n"
    "  --label KEY=VALUE  set a label; KEY- removes it\n"
    "  --pod-cidr CIDR    set the node's pod CIDR of that family (host-local mode: its pods\n"
    "                     get addresses only from there); replaces one of the same family\n"
    "  --address ADDR     add one of the node's own addresses\n"};

/* Set or remove one label ("k=v" / "k-") on doc. */
static int set_label(json_t *doc, const char *arg)
{
	json_t *meta = json_object_get(doc, "metadata"), *labels = json_object_get(meta, "labels");
	const char *eq = strchr(arg, '=');
	char *key;
	int rc;

	if (!labels && (!(labels = json_object()) || json_object_set_new(meta, "labels", labels)))
		return BIP_ENOMEM;
	key = eq ? strndup(arg, (size_t)(eq - arg)) : strndup(arg, strlen(arg) - 1);
	if (!key)
		return BIP_ENOMEM;
	if (eq)
		rc = json_object_set_new(labels, key, json_string(eq + 1)) ? BIP_ENOMEM : BIP_OK;
	else
		rc = (json_object_del(labels, key), BIP_OK);
	free(key);
	return rc;
}

static json_t *spec_list(json_t *doc, const char *key)
{
	json_t *spec = json_object_get(doc, "spec"), *l = json_object_get(spec, key);

	if (!l && (l = json_array()) && json_object_set_new(spec, key, l) != 0)
		return NULL;
	return l;
}

static int set_pod_cidr(json_t *doc, const char *arg, const struct bip_prefix *p)
{
	json_t *l = spec_list(doc, "podCIDRs");
	struct bip_prefix old;

	if (!l)
		return BIP_ENOMEM;
	for (size_t i = json_array_size(l); i-- > 0;) {
		const char *s = json_string_value(json_array_get(l, i));

		if (s && bip_prefix_parse(s, &old) == BIP_OK && old.addr.family == p->addr.family)
			json_array_remove(l, i);
	}
	return json_array_append_new(l, json_string(arg)) ? BIP_ENOMEM : BIP_OK;
}

static int add_address(json_t *doc, const char *arg, const struct bip_addr *a)
{
	json_t *l = spec_list(doc, "addresses");
	struct bip_addr old;

	if (!l)
		return BIP_ENOMEM;
	for (size_t i = 0; i < json_array_size(l); i++) {
		const char *s = json_string_value(json_array_get(l, i));

		if (s && bip_addr_parse(s, &old) == BIP_OK && bip_addr_eq(old, *a))
			return BIP_OK;
	}
	return json_array_append_new(l, json_string(arg)) ? BIP_ENOMEM : BIP_OK;
}

struct change {
	int opt;
	const char *arg;
	struct bip_prefix cidr;
	struct bip_addr addr;
};

/* The flags into ch[0..*nch): CTL_CONTINUE, or the exit status of a bad one. */
static int parse_changes(int argc, char **argv, struct change *ch, size_t *nch)
{
	static const struct option longopts[] = {{"label", required_argument, NULL, 'l'},
						 {"pod-cidr", required_argument, NULL, 'c'},
						 {"address", required_argument, NULL, 'a'},
						 CTL_LONGOPTS};
	int c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0) {
		struct change *x = &ch[(*nch)++];
		size_t len = strlen(optarg);

		*x = (struct change){.opt = c, .arg = optarg};
		if (c == 'l' && !strchr(optarg, '=') && (len < 2 || optarg[len - 1] != '-'))
			return ctl_usage_err(
			    &usage, "invalid --label '%s' (want KEY=VALUE or KEY-)", optarg);
		if (c == 'c' && (rc = bip_prefix_parse_net(optarg, &x->cidr)) != BIP_OK)
			return ctl_usage_err(&usage, "%s CIDR '%s' for --pod-cidr",
					     rc == BIP_EHOSTBITS ? "host bits set in" : "invalid",
					     optarg);
		if (c == 'a' && bip_addr_parse(optarg, &x->addr) != BIP_OK)
			return ctl_usage_err(&usage, "invalid address '%s' for --address", optarg);
	}
	rc = ctl_args(&usage, c, argc, argv, 1, 1);
	if (rc == CTL_CONTINUE && !*nch)
		return ctl_usage_err(&usage,
				     "nothing to change: give --label, --pod-cidr or --address");
	return rc;
}

/* The node's document as stored (*existed), or a new one; the changes applied to it. */
static json_t *changed_doc(struct ctl_session *s, const char *name, const struct change *ch,
			   size_t nch, bool *existed)
{
	json_t *doc = NULL;
	int rc = bip_res_get(s->ipam, BIP_RES_NODE, name, &doc);

	*existed = rc == BIP_OK;
	if (rc == BIP_ENOTFOUND) {
		ctl_warn_new_name(s->ipam, BIP_RES_NODE, name);
		doc = json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", BIP_API_VERSION, "kind",
				"Node", "metadata", "name", name, "spec");
	} else if (rc != BIP_OK) {
		ctl_lib_err(s->ipam, rc, "cannot read node '%s'", name);
		return NULL;
	}
	rc = doc ? BIP_OK : BIP_ENOMEM;
	for (size_t i = 0; i < nch && rc == BIP_OK; i++) {
		struct change c = ch[i];

		if (c.opt == 'l')
			rc = set_label(doc, c.arg);
		else if (c.opt == 'c')
			rc = set_pod_cidr(doc, c.arg, &c.cidr);
		else
			rc = add_address(doc, c.arg, &c.addr);
	}
	if (rc != BIP_OK) {
		ctl_err("out of memory");
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int node_set_main(int argc, char **argv)
{
	struct ctl_session s = {0};
	struct change *ch = calloc((size_t)argc, sizeof(*ch));
	struct bip_res r = {0};
	json_t *doc = NULL;
	size_t nch = 0;
	const char *name;
	char err[1024];
	int ret = CTL_EXIT_ERR, rc;
	bool existed = false;

	if (!ch) {
		ctl_err("out of memory");
		goto out;
	}
	if ((rc = parse_changes(argc, argv, ch, &nch)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	name = argv[optind];
	if (ctl_open(&s, false) != CTL_EXIT_OK || !(doc = changed_doc(&s, name, ch, nch, &existed)))
		goto out;
	if (bip_res_from_json(doc, "node set", &r, NULL, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s; nothing was written", err);
		goto out;
	}
	if ((rc = bip_res_put(s.ipam, &r, false)) != BIP_OK) {
		ctl_lib_err(s.ipam, rc, "cannot store node '%s'", name);
		goto out;
	}
	printf("node/%s %s\n", name, existed ? "configured" : "created");
	ret = CTL_EXIT_OK;
out:
	bip_res_clear(&r);
	json_decref(doc);
	free(ch);
	ctl_close(&s);
	return ret;
}
