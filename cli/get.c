/* get [KIND [NAME]]: resources as a table, or in the form apply reads back (-o yaml / json). */
#include "ctl.h"
#include "resource.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "get", "[KIND [NAME]]",
    "Show resources: all of them, all of one KIND, or one. KIND is pool, reservation,\n"
    "ipamconfig, node or namespace (or Calico's ippool, ipreservation, ipamconfiguration),\n"
    "singular or plural, any case. With -o yaml or -o json the output is a manifest that\n"
    "'apply -f' reads back: one resource as itself, several as a List. Named as calicoctl\n"
    "names them (ippool, ipreservation), pools and reservations print in Calico's form\n"
    "(projectcalico.org/v3 IPPool, IPPoolList), every kept Calico field included. -o wide\n"
    "adds selectors, uses, priorities, labels and the Calico fields a pool keeps.\n"};

static int print_tables(const json_t *by_kind[], bool kind_prefix)
{
	bool first = true;

	for (int k = 0; k < BIP_RES__COUNT; k++) {
		struct bip_table t;

		if (!by_kind[k] || (kind_prefix && !json_array_size(by_kind[k])))
			continue;
		if (bip_res_table((enum bip_res_kind)k, by_kind[k], ctl.output == CTL_OUT_WIDE,
				  kind_prefix, &t) != BIP_OK) {
			ctl_err("out of memory");
			return CTL_EXIT_ERR;
		}
		if (!json_array_size(by_kind[k])) {
			/* as kubectl: say so on stderr rather than print a bare header */
			fprintf(stderr, "No %ss found.\n", bip_res_kind_word((enum bip_res_kind)k));
			bip_table_free(&t);
			continue;
		}
		if (!first)
			putchar('\n');
		bip_table_print(&t, stdout);
		bip_table_free(&t);
		first = false;
	}
	if (kind_prefix && first)
		fprintf(stderr, "No resources found.\n");
	return CTL_EXIT_OK;
}

int get_main(int argc, char **argv)
{
	static const struct option longopts[] = {CTL_LONGOPTS};
	struct ctl_session s = {0};
	const json_t *by_kind[BIP_RES__COUNT] = {0};
	json_t *docs[BIP_RES__COUNT] = {0}, *one = NULL, *out = NULL, *d;
	enum bip_res_kind kind = BIP_RES_POOL;
	const char *name = NULL;
	bool calico = false;
	size_t i;
	int ret = CTL_EXIT_ERR, c, rc, k;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		;
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 2)) != CTL_CONTINUE ||
	    (optind < argc && (rc = ctl_kind_arg(&usage, argv[optind], &kind)) != CTL_EXIT_OK)) {
		ret = rc;
		goto out;
	}
	if (optind < argc)
		calico = bip_res_calico_word(argv[optind]);
	if (optind + 1 < argc)
		name = argv[optind + 1];
	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	if (name) {
		rc = bip_res_get(s.ipam, kind, name, &one);
		if (rc == BIP_ENOTFOUND) {
			ctl_not_found(s.ipam, kind, name, "");
			goto out;
		}
		if (rc != BIP_OK) {
			ctl_lib_err(s.ipam, rc, "cannot read %s '%s'", bip_res_kind_word(kind),
				    name);
			goto out;
		}
		if (!(docs[kind] = json_pack("[O]", one)))
			goto nomem;
		by_kind[kind] = docs[kind];
	} else {
		for (k = 0; k < BIP_RES__COUNT; k++) {
			if (optind < argc && k != (int)kind)
				continue;
			rc = bip_res_list(s.ipam, (enum bip_res_kind)k, &docs[k]);
			if (rc != BIP_OK) {
				ctl_lib_err(s.ipam, rc, "cannot list %ss",
					    bip_res_kind_word((enum bip_res_kind)k));
				goto out;
			}
			by_kind[k] = docs[k];
		}
	}
	if (ctl_tabular()) {
		ret = print_tables(by_kind, optind == argc);
		goto out;
	}
	if (calico) {
		json_array_foreach(docs[kind], i, d)
		{
			if (bip_res_to_calico(kind, d) != BIP_OK)
				goto nomem;
		}
		out = name ? json_incref(json_array_get(docs[kind], 0))
			   : bip_res_calico_list_json(kind, json_incref(docs[kind]));
		if (!out)
			goto nomem;
	} else if (one) {
		out = json_incref(one);
	} else {
		if (!(out = json_array()))
			goto nomem;
		for (k = 0; k < BIP_RES__COUNT; k++)
			if (docs[k] && json_array_extend(out, docs[k]) != 0)
				goto nomem;
		if (!(out = bip_res_list_json(out)))
			goto nomem;
	}
	ret = ctl_print(out);
	goto out;
nomem:
	ctl_err("out of memory");
out:
	for (k = 0; k < BIP_RES__COUNT; k++)
		json_decref(docs[k]);
	json_decref(one);
	json_decref(out);
	ctl_close(&s);
	return ret;
}
