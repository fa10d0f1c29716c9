/* blockipamctl plumbing: option parsing, messages, input files, the store session (ctl.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "manifest.h"
#include "resource.h"

struct ctl_opts ctl = {.prog = "blockipamctl", .output = CTL_OUT_TABLE};

const char ctl_common_help[] =
    "Common options:\n"
    "  --store ADDR      store address (default: $BLOCKIPAM_STORE, then\n"
    "                    " BIP_STORE_DEFAULT ")\n"
    "  --store-prefix P, --store-ca-file F, --store-cert-file F, --store-key-file F,\n"
    "  --store-timeout-ms N   as the plugin's ipam.store_prefix, store_ca_file, ... fields\n"
    "                    (default: $BLOCKIPAM_STORE_PREFIX, _CA_FILE, _CERT_FILE, _KEY_FILE,\n"
    "                    _TIMEOUT_MS)\n"
    "  -o, --output FMT  table (default), wide, json or yaml\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage error, 3 'ipam check' found problems.\n";

static void vmsg(const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", ctl.prog, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void ctl_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void ctl_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("note: ", fmt, ap);
	va_end(ap);
}

void ctl_lib_err(const struct bip_ipam *ipam, int rc, const char *fmt, ...)
{
	const char *detail = ipam ? bip_ipam_errmsg(ipam) : "";
	char what[512];
	va_list ap;

	if (!detail || !*detail)
		detail = bip_strerror(rc);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* the library's detail often starts with what was being done: say it once */
	if (strncmp(detail, what, strlen(what)) == 0)
		fprintf(stderr, "%s: %s\n", ctl.prog, detail);
	else
		fprintf(stderr, "%s: %s: %s\n", ctl.prog, what, detail);
}

void ctl_help(const struct ctl_usage *u, FILE *f)
{
	fprintf(f, "Usage: %s %s %s\n\n%s\n%s", ctl.prog, u->name, u->synopsis, u->help,
		ctl_common_help);
}

int ctl_usage_err(const struct ctl_usage *u, const char *fmt, ...)
{
	const char *sep = *u->name ? " " : "";
	va_list ap;

	fprintf(stderr, "%s%s%s: ", ctl.prog, sep, u->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (u->synopsis)
		fprintf(stderr, "Usage: %s %s %s\n", ctl.prog, u->name, u->synopsis);
	fprintf(stderr, "Try '%s%s%s --help'.\n", ctl.prog, sep, u->name);
	return CTL_EXIT_USAGE;
}

int ctl_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return BIP_EINVAL;
	return BIP_OK;
}

int ctl_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
		return BIP_EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno == ERANGE || v > max)
		return BIP_EINVAL;
	*out = v;
	return BIP_OK;
}

int ctl_parse_output(const char *s, enum ctl_output *out)
{
	static const char *const names[] = {"table", "wide", "json", "yaml"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum ctl_output)i;
			return BIP_OK;
		}
	}
	return BIP_EINVAL;
}

/* "unknown option '--dry-rn' (did you mean '--dry-run'?)": the nearest of the command's. */
static void unknown_long(const struct ctl_usage *u, const char *arg, const struct option *longopts)
{
	const char *names[64], *near;
	char word[64];
	size_t n = 0;

	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
	for (; n < sizeof(names) / sizeof(names[0]) && longopts[n].name; n++)
		names[n] = longopts[n].name;
	near = strncmp(arg, "--", 2) == 0 ? ctl_nearest(word, names, n) : NULL;
	if (near)
		ctl_usage_err(u, "unknown option '%s' (did you mean '--%s'?)", arg, near);
	else
		ctl_usage_err(u, "unknown option '%s'", arg);
}

int ctl_getopt(const struct ctl_usage *u, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	static char **active; /* the argv being parsed; NULL after the end */
	int c;

	if (active != argv) {
		optind = 0; /* glibc: a full restart, permutation state included */
		opterr = 0;
		active = argv;
	}
	for (;;) {
		c = getopt_long(argc, argv, shortopts, longopts, NULL);
		switch (c) {
		case -1:
			active = NULL;
			return CTL_OPT_END;
		case 'h':
			active = NULL;
			if (!u->synopsis)
				return 'h'; /* a command group prints its own help */
			ctl_help(u, stdout);
			return CTL_OPT_HELP;
		case 'o':
			if (ctl_parse_output(optarg, &ctl.output) != BIP_OK) {
				active = NULL;
				ctl_usage_err(
				    u,
				    "unknown output format '%s' (want table, wide, json or yaml)",
				    optarg);
				return CTL_OPT_USAGE;
			}
			continue;
		case CTL_OPT_STORE:
			if (!*optarg) {
				active = NULL;
				ctl_usage_err(u, "--store needs a store address");
				return CTL_OPT_USAGE;
			}
			ctl.store = optarg;
			continue;
		case CTL_OPT_STORE_PREFIX:
			ctl.store_prefix = optarg;
			continue;
		case CTL_OPT_STORE_CA:
			ctl.store_ca = optarg;
			continue;
		case CTL_OPT_STORE_CERT:
			ctl.store_cert = optarg;
			continue;
		case CTL_OPT_STORE_KEY:
			ctl.store_key = optarg;
			continue;
		case CTL_OPT_STORE_TIMEOUT:
			ctl.store_timeout = optarg;
			continue;
		case ':':
			active = NULL;
			if (optopt && optopt < 0x100)
				ctl_usage_err(u, "option '-%c' needs a value", optopt);
			else
				ctl_usage_err(u, "option '%s' needs a value", argv[optind - 1]);
			return CTL_OPT_USAGE;
		case '?':
			active = NULL;
			if (optopt)
				ctl_usage_err(u, "unknown option '-%c'", optopt);
			else
				unknown_long(u, argv[optind - 1], longopts);
			return CTL_OPT_USAGE;
		default:
			return c;
		}
	}
}

int ctl_opt_exit(int c)
{
	return c == CTL_OPT_HELP ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

int ctl_args(const struct ctl_usage *u, int c, int argc, char **argv, int min, int max)
{
	int n = argc - optind;

	if (c != CTL_OPT_END)
		return ctl_opt_exit(c);
	if (n < min)
		return ctl_usage_err(u, "missing argument%s", min - n > 1 ? "s" : "");
	if (max >= 0 && n > max)
		return ctl_usage_err(u, "unexpected argument '%s'", argv[optind + max]);
	return CTL_CONTINUE;
}

/* The kind word nearest to word (any case), for "did you mean"; NULL when none is near. */
static const char *nearest_kind(const char *word)
{
	const char *words[BIP_RES__COUNT * 8];
	char lower[64];
	size_t n = 0, i;

	for (i = 0; word[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)word[i]);
	lower[i] = '\0';
	for (int k = 0; k < BIP_RES__COUNT; k++)
		n += bip_res_kind_words((enum bip_res_kind)k, words + n,
					sizeof(words) / sizeof(words[0]) - n);
	return ctl_nearest(lower, words, n);
}

int ctl_kind_arg(const struct ctl_usage *u, const char *word, enum bip_res_kind *kind)
{
	const char *near;

	if (bip_res_kind_parse(word, kind) == BIP_OK)
		return CTL_EXIT_OK;
	if ((near = nearest_kind(word)))
		return ctl_usage_err(u, "unknown kind '%s' (did you mean '%s'?)", word, near);
	return ctl_usage_err(u,
			     "unknown kind '%s' (want pool, reservation, ipamconfig, node or "
			     "namespace, or Calico's ippool, ipreservation, ipamconfiguration)",
			     word);
}

int ctl_print(const json_t *v)
{
	if (bip_out_print(stdout, ctl.output == CTL_OUT_YAML, v) != BIP_OK || fflush(stdout) != 0) {
		ctl_err("cannot write the output");
		return CTL_EXIT_ERR;
	}
	return CTL_EXIT_OK;
}

static void print_group_help(const char *group, const struct ctl_cmd *cmds, size_t n,
			     const char *group_help, FILE *f)
{
	size_t w = 0;

	fprintf(f, "Usage: %s%s%s COMMAND [OPTIONS] [ARGS]\n\n", ctl.prog, group ? " " : "",
		group ? group : "");
	if (group_help)
		fprintf(f, "%s\n", group_help);
	for (size_t i = 0; i < n; i++)
		w = strlen(cmds[i].name) > w ? strlen(cmds[i].name) : w;
	fprintf(f, "Commands:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-*s  %s\n", (int)w, cmds[i].name, cmds[i].summary);
	fprintf(f, "\nRun '%s%s%s COMMAND --help' for the options of a command.\n", ctl.prog,
		group ? " " : "", group ? group : "");
	if (group)
		fprintf(f, "\n%s", ctl_common_help);
}

/* " (did you mean 'get'?)" after an unknown command: the nearest command, else, at the top, a
 * kind the word looks like ("poool": 'pool', with 'get pool'), as a word there often means one. */
static void suggest_command(const char *group, const struct ctl_cmd *cmds, size_t n,
			    const char *word)
{
	const char *names[32], *near;
	size_t m = 0;

	for (; m < n && m < sizeof(names) / sizeof(names[0]); m++)
		names[m] = cmds[m].name;
	if ((near = ctl_nearest(word, names, m)))
		fprintf(stderr, " (did you mean '%s'?)", near);
	else if (!group && (near = nearest_kind(word)))
		fprintf(stderr, " (did you mean '%s'? It is a kind: '%s get %s')", near, ctl.prog,
			near);
}

int ctl_dispatch(const char *group, const struct ctl_cmd *cmds, size_t n, const char *group_help,
		 int argc, char **argv)
{
	const char *word = argc > 0 ? argv[0] : NULL;
	char *help_argv[] = {NULL, "--help", NULL};

	if (!word) {
		print_group_help(group, cmds, n, group_help, stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
		print_group_help(group, cmds, n, group_help, stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(word, "help") == 0) {
		if (argc < 2) {
			print_group_help(group, cmds, n, group_help, stdout);
			return CTL_EXIT_OK;
		}
		/* "help CMD" is "CMD --help" */
		word = argv[1];
		help_argv[0] = argv[1];
		argc = 2;
		argv = help_argv;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(word, cmds[i].name) == 0)
			return cmds[i].fn(argc, argv);
	fprintf(stderr, "%s%s%s: unknown command '%s'", ctl.prog, group ? " " : "",
		group ? group : "", word);
	suggest_command(group, cmds, n, word);
	fprintf(stderr, "\nTry '%s%s%s --help'.\n", ctl.prog, group ? " " : "", group ? group : "");
	return CTL_EXIT_USAGE;
}

int ctl_read_file(const char *path, char **buf, size_t *len)
{
	int ret = CTL_EXIT_ERR;
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *b = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		ctl_err("cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 16384;
			if (cap > CTL_INPUT_MAX + 1)
				cap = CTL_INPUT_MAX + 1;
			nb = realloc(b, cap + 1);
			if (!nb) {
				ctl_err("reading '%s': out of memory", path);
				goto out;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (n > CTL_INPUT_MAX) {
			ctl_err("'%s' is larger than %u MiB", path, CTL_INPUT_MAX >> 20);
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		ctl_err("cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	ret = CTL_EXIT_OK;
out:
	if (f && f != stdin)
		fclose(f);
	free(b);
	return ret;
}

int ctl_local_node(char *buf, size_t len, const char **node)
{
	const char *env = getenv("BLOCKIPAM_NODE");

	if (env && *env) {
		if (!bip_res_name_ok(env)) {
			ctl_err("invalid BLOCKIPAM_NODE '%s': not a node name", env);
			return CTL_EXIT_ERR;
		}
		*node = env;
		return CTL_EXIT_OK;
	}
	if (gethostname(buf, len) != 0 || !memchr(buf, '\0', len)) {
		ctl_err("cannot read the host name (%s): name the node with --node or "
			"BLOCKIPAM_NODE",
			strerror(errno));
		return CTL_EXIT_ERR;
	}
	if (!bip_res_name_ok(buf)) {
		ctl_err("host name '%s' is not a valid node name: name the node with --node or "
			"BLOCKIPAM_NODE",
			buf);
		return CTL_EXIT_ERR;
	}
	*node = buf;
	return CTL_EXIT_OK;
}

int ctl_read_set(const char *path, json_t **set)
{
	int ret = CTL_EXIT_ERR;
	char *buf = NULL, *line, *save = NULL;
	size_t len;
	json_t *s = json_object();

	if (!s || ctl_read_file(path, &buf, &len) != CTL_EXIT_OK)
		goto out;
	if (strlen(buf) != len) {
		ctl_err("'%s' holds a NUL byte: want one name per line", path);
		goto out;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end = line + strlen(line);

		while (*line == ' ' || *line == '\t' || *line == '\r')
			line++;
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line || *line == '#')
			continue;
		if (json_object_set_new(s, line, json_true()) != 0) {
			ctl_err("'%s': cannot use line '%s' (not UTF-8?)", path, line);
			goto out;
		}
	}
	*set = s;
	s = NULL;
	ret = CTL_EXIT_OK;
out:
	json_decref(s);
	free(buf);
	return ret;
}

int ctl_write_out(const char *path, const char *text, size_t len)
{
	char *tmp = NULL;
	FILE *f;
	bool ok;

	if (!path || strcmp(path, "-") == 0) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
			ctl_err("cannot write the output");
			return CTL_EXIT_ERR;
		}
		return CTL_EXIT_OK;
	}
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		ctl_err("out of memory");
		return CTL_EXIT_ERR;
	}
	f = fopen(tmp, "w");
	ok = f && fwrite(text, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0) {
		ctl_err("cannot write '%s': %s", ok ? path : tmp, strerror(errno));
		if (f)
			remove(tmp);
		free(tmp);
		return CTL_EXIT_ERR;
	}
	free(tmp);
	return CTL_EXIT_OK;
}

const char *ctl_store_addr(void)
{
	return bip_store_addr_default(ctl.store, getenv("BLOCKIPAM_STORE"));
}

/* An option's value, else its environment variable's (NULL when neither is set). */
static const char *opt_env(const char *opt, const char *env, const char **from, const char *name)
{
	const char *v = getenv(env);

	if (opt) {
		*from = name;
		return opt;
	}
	*from = env;
	return v && *v ? v : NULL;
}

int ctl_store_opts(struct bip_store_opts *o, bool read_only)
{
	static const struct {
		const char *opt, *env;
	} files[] = {{"--store-ca-file", "BLOCKIPAM_STORE_CA_FILE"},
		     {"--store-cert-file", "BLOCKIPAM_STORE_CERT_FILE"},
		     {"--store-key-file", "BLOCKIPAM_STORE_KEY_FILE"}};
	const char *given[] = {ctl.store_ca, ctl.store_cert, ctl.store_key}, *from, *v;
	const char **dst[] = {&o->ca_file, &o->cert_file, &o->key_file};
	unsigned long ms;

	*o = (struct bip_store_opts){.read_only = read_only};
	for (size_t i = 0; i < 3; i++) {
		v = opt_env(given[i], files[i].env, &from, files[i].opt);
		if (v && v[0] != '/') {
			ctl_err("invalid %s '%s': must be an absolute path", from, v);
			return CTL_EXIT_ERR;
		}
		*dst[i] = v;
	}
	v = opt_env(ctl.store_prefix, "BLOCKIPAM_STORE_PREFIX", &from, "--store-prefix");
	if (v && (v[0] != '/' || v[strlen(v) - 1] != '/')) {
		ctl_err("invalid %s '%s': must start and end with '/'", from, v);
		return CTL_EXIT_ERR;
	}
	o->prefix = v;
	v = opt_env(ctl.store_timeout, "BLOCKIPAM_STORE_TIMEOUT_MS", &from, "--store-timeout-ms");
	if (v) {
		if (ctl_parse_uint(v, 600000, &ms) != BIP_OK || ms < 1) {
			ctl_err("invalid %s '%s': want milliseconds from 1 to 600000", from, v);
			return CTL_EXIT_ERR;
		}
		o->timeout_ms = (int)ms;
	}
	return CTL_EXIT_OK;
}

int ctl_open(struct ctl_session *s, bool read_only)
{
	const char *addr = ctl_store_addr();
	struct bip_store_opts opts;
	char err[512] = "";
	int rc;

	s->store = NULL;
	s->ipam = NULL;
	if (ctl_store_opts(&opts, read_only) != CTL_EXIT_OK)
		return CTL_EXIT_ERR;
	rc = bip_store_open(addr, &opts, &s->store, err, sizeof(err));
	if (rc != BIP_OK) {
		const char *hint =
		    read_only && rc == BIP_ENOTFOUND &&
			    (strstr(err, "does not exist") || strcmp(addr, BIP_STORE_DEFAULT) == 0)
			? " (the first 'apply' creates it; or name another with --store)"
			: "";

		/* the store's own message names the store already ("cannot open store ..."); a
		 * read-only command on a store nobody has written yet gets the hint */
		if (strncmp(err, "cannot open store ", 18) == 0)
			ctl_err("%s%s", err, hint);
		else
			ctl_err("cannot open store '%s': %s%s", addr, *err ? err : bip_strerror(rc),
				hint);
		return CTL_EXIT_ERR;
	}
	rc = bip_ipam_new(s->store, &s->ipam);
	if (rc != BIP_OK) {
		ctl_lib_err(NULL, rc, "cannot use store '%s'", addr);
		ctl_close(s);
		return CTL_EXIT_ERR;
	}
	return CTL_EXIT_OK;
}

void ctl_close(struct ctl_session *s)
{
	bip_ipam_free(s->ipam);
	bip_store_close(s->store);
	s->ipam = NULL;
	s->store = NULL;
}

int ctl_load_manifest(const char *file, struct bip_res **res, size_t *n, bool validate)
{
	const char *name = strcmp(file, "-") == 0 ? "stdin" : file;
	int ret = CTL_EXIT_ERR;
	char *buf = NULL, err[1024];
	size_t len, i;
	json_t *docs = NULL, *warnings = json_array(), *w;
	struct bip_res *v = NULL;
	size_t nv = 0;

	if (!warnings || ctl_read_file(file, &buf, &len) != CTL_EXIT_OK)
		goto out;
	if (bip_manifest_parse(buf, len, &docs, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s: %s", name, err);
		goto out;
	}
	if (!json_array_size(docs)) {
		ctl_err("%s: no documents", name);
		goto out;
	}
	if (bip_res_from_docs(docs, &v, &nv, warnings, err, sizeof(err)) != BIP_OK) {
		ctl_err("%s: %s", name, err);
		goto out;
	}
	json_array_foreach(warnings, i, w)
	{
		ctl_warn("%s: %s", name, json_string_value(w));
	}
	for (i = 0; validate && i < nv; i++) {
		if (bip_res_validate(&v[i], err, sizeof(err)) != BIP_OK) {
			ctl_err("%s: %s; nothing was written", name, err);
			goto out;
		}
	}
	*res = v;
	*n = nv;
	v = NULL;
	ret = CTL_EXIT_OK;
out:
	bip_res_free(v, nv);
	json_decref(docs);
	json_decref(warnings);
	free(buf);
	return ret;
}
