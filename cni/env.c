/*
 * The CNI environment: which variables each command needs, and what a valid value is. One table
 * says both, as in the reference library's skel: a runtime that sets a bad CNI_IFNAME learns it
 * from code 4 naming CNI_IFNAME and the value, before any config is looked at.
 *
 * Choices: CNI_NETNS is required for ADD and CHECK (the spec), optional for DEL; CNI_PATH is
 * required only for GC (the spec; skel also demands it for ADD/DEL/CHECK, which an IPAM plugin
 * has no use for). Interface names follow the kernel (at most 15 bytes, not "." or "..", no '/',
 * ':' or whitespace) and must also be printable ASCII without '\', '"' or ''', because they
 * become part of a handle id and the library refuses those in one (lib/util.c bip__valid_handle).
 */
#include <stdio.h>
#include <string.h>

#include "cni.h"

enum {
	ADD = 1u << BIP_CNI_CMD_ADD,
	DEL = 1u << BIP_CNI_CMD_DEL,
	CHECK = 1u << BIP_CNI_CMD_CHECK,
	GC = 1u << BIP_CNI_CMD_GC
};

static const struct {
	enum bip_cni_cmd cmd;
	const char *name;
} commands[] = {
    {BIP_CNI_CMD_ADD, "ADD"}, {BIP_CNI_CMD_DEL, "DEL"},	      {BIP_CNI_CMD_CHECK, "CHECK"},
    {BIP_CNI_CMD_GC, "GC"},   {BIP_CNI_CMD_STATUS, "STATUS"}, {BIP_CNI_CMD_VERSION, "VERSION"},
};

const char *bip_cni_cmd_name(enum bip_cni_cmd c)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == c)
			return commands[i].name;
	return "NONE";
}

const char *bip_cni_getenv(const char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

int bip_cni_env_command(const char *const *env, enum bip_cni_cmd *cmd, struct bip_cni_err *e)
{
	const char *v = bip_cni_getenv(env, "CNI_COMMAND");

	if (!v || !*v)
		return bip_cni_errf(e, BIP_CNI_EENV,
				    "required environment variable CNI_COMMAND is missing");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(v, commands[i].name) == 0) {
			*cmd = commands[i].cmd;
			return 0;
		}
	}
	bip_cni_errf(e, BIP_CNI_EENV, "invalid CNI_COMMAND '%s'", v);
	bip_cni_err_details(e, "want one of ADD, DEL, CHECK, GC, STATUS, VERSION");
	return BIP_CNI_EENV;
}

static bool printable_ascii(char c)
{
	return c > ' ' && c < 0x7f;
}

/* Each validator writes why the value is bad and returns false. */
static bool valid_container_id(const char *v, char *why, size_t n)
{
	if (strlen(v) > BIP_CNI_CONTAINERID_MAX) {
		snprintf(why, n, "longer than %d bytes", BIP_CNI_CONTAINERID_MAX);
		return false;
	}
	if (!bip_cni_name_ok(v, BIP_CNI_CONTAINERID_MAX)) {
		snprintf(why, n, "must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$");
		return false;
	}
	return true;
}

static bool valid_netns(const char *v, char *why, size_t n)
{
	if (strlen(v) > 4095) {
		snprintf(why, n, "longer than 4095 bytes");
		return false;
	}
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			snprintf(why, n, "contains a control character");
			return false;
		}
	}
	return true;
}

static bool valid_ifname(const char *v, char *why, size_t n)
{
	if (strlen(v) > BIP_CNI_IFNAME_MAX) {
		snprintf(why, n, "longer than %d bytes", BIP_CNI_IFNAME_MAX);
		return false;
	}
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
		snprintf(why, n, "'.' and '..' are not interface names");
		return false;
	}
	for (const char *p = v; *p; p++) {
		if (*p == '/' || *p == ':' || *p == '\\' || *p == '"' || *p == '\'') {
			snprintf(why, n, "must not contain '%c'", *p);
			return false;
		}
		if (!printable_ascii(*p)) {
			snprintf(why, n, "must be printable ASCII without whitespace");
			return false;
		}
	}
	return true;
}

static const struct var {
	const char *name;
	unsigned required, used; /* command bits */
	bool (*valid)(const char *v, char *why, size_t n);
	size_t off;
} vars[] = {
    {"CNI_CONTAINERID", ADD | DEL | CHECK, ADD | DEL | CHECK, valid_container_id,
     offsetof(struct bip_cni_env, container_id)},
    {"CNI_NETNS", ADD | CHECK, ADD | DEL | CHECK, valid_netns, offsetof(struct bip_cni_env, netns)},
    {"CNI_IFNAME", ADD | DEL | CHECK, ADD | DEL | CHECK, valid_ifname,
     offsetof(struct bip_cni_env, ifname)},
    {"CNI_ARGS", 0, ADD | DEL | CHECK, NULL, offsetof(struct bip_cni_env, args_raw)},
    {"CNI_PATH", GC, ADD | DEL | CHECK | GC, NULL, offsetof(struct bip_cni_env, path)},
};

/* A node name: the same rules as every other blockipam name. */
static int check_node_env(const char *v, struct bip_cni_err *e)
{
	if (!bip_cni_name_ok(v, BIP_NAME_MAX))
		return bip_cni_errf(e, BIP_CNI_EENV,
				    "invalid BLOCKIPAM_NODE '%s': must match "
				    "^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$, at most %d bytes",
				    v, BIP_NAME_MAX);
	return 0;
}

int bip_cni_env_parse(const char *const *env, struct bip_cni_env *out, struct bip_cni_err *e)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bip_cni_env_command(env, &out->cmd, e);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const struct var *d = &vars[i];
		unsigned bit = 1u << out->cmd;
		const char *v = bip_cni_getenv(env, d->name);
		char why[128];

		if (!(d->used & bit))
			continue;
		if (v && !*v)
			v = NULL; /* set but empty is the same as unset */
		if (!v && (d->required & bit))
			return bip_cni_errf(e, BIP_CNI_EENV,
					    "required environment variable %s is missing for %s",
					    d->name, bip_cni_cmd_name(out->cmd));
		if (v && d->valid && !d->valid(v, why, sizeof(why)))
			return bip_cni_errf(e, BIP_CNI_EENV, "invalid %s '%s': %s", d->name, v,
					    why);
		*(const char **)((char *)out + d->off) = v;
	}
	if (out->args_raw) {
		rc = bip_cni_args_parse(out->args_raw, &out->args, e);
		if (rc)
			return rc;
	}
	out->store = bip_cni_getenv(env, "BLOCKIPAM_STORE");
	if (out->store && !*out->store)
		out->store = NULL;
	out->node = bip_cni_getenv(env, "BLOCKIPAM_NODE");
	if (out->node && !*out->node)
		out->node = NULL;
	if (out->node)
		return check_node_env(out->node, e);
	return 0;
}

/* --- CNI_ARGS ---------------------------------------------------------------------------- */

static int args_bool(const char *k, const char *v, bool *out, struct bip_cni_err *e)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "True") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "False") == 0) {
		*out = false;
		return 0;
	}
	return bip_cni_errf(e, BIP_CNI_EENV,
			    "invalid CNI_ARGS %s='%s': want 1, true, True, 0, false or False", k,
			    v);
}

static int args_ips(char *v, struct bip_cni_args *a, struct bip_cni_err *e)
{
	char *save = NULL;

	if (!*v)
		return bip_cni_errf(e, BIP_CNI_EENV, "invalid CNI_ARGS IP='': empty address");
	/* strtok skips empty items (a trailing comma is fine), so a list of nothing but commas
	 * would silently ask for no address at all */
	if (!v[strspn(v, ",")])
		return bip_cni_errf(e, BIP_CNI_EENV, "invalid CNI_ARGS IP='%s': no address", v);
	for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct bip_prefix p;

		if (bip_prefix_parse_ex(tok, false, true, &p) != BIP_OK)
			return bip_cni_errf(e, BIP_CNI_EENV,
					    "invalid CNI_ARGS IP: '%s' is not an IP address", tok);
		for (size_t i = 0; i < a->nips; i++)
			if (bip_addr_eq(a->ips[i], p.addr))
				return bip_cni_errf(e, BIP_CNI_EENV,
						    "invalid CNI_ARGS IP: '%s' given twice", tok);
		if (a->nips == sizeof(a->ips) / sizeof(a->ips[0]))
			return bip_cni_errf(e, BIP_CNI_EENV,
					    "invalid CNI_ARGS IP: more than %zu addresses",
					    sizeof(a->ips) / sizeof(a->ips[0]));
		a->ips[a->nips++] = p.addr;
	}
	return 0;
}

/* Known keys; each value is a name under the container-id rules unless noted. */
static const struct arg_key {
	const char *key;
	size_t off; /* offsetof the const char * in bip_cni_args, or 0 for special keys */
} arg_keys[] = {
    {"IgnoreUnknown", 0},
    {"IP", 0},
    {"K8S_POD_NAMESPACE", offsetof(struct bip_cni_args, k8s_namespace)},
    {"K8S_POD_NAME", offsetof(struct bip_cni_args, k8s_pod)},
    {"K8S_POD_UID", offsetof(struct bip_cni_args, k8s_uid)},
    {"K8S_POD_INFRA_CONTAINER_ID", offsetof(struct bip_cni_args, k8s_infra_id)},
};

static const struct arg_key *arg_key_find(const char *k)
{
	for (size_t i = 0; i < sizeof(arg_keys) / sizeof(arg_keys[0]); i++)
		if (strcmp(arg_keys[i].key, k) == 0)
			return &arg_keys[i];
	return NULL;
}

int bip_cni_args_parse(const char *s, struct bip_cni_args *out, struct bip_cni_err *e)
{
	struct bip_cni_args *a = out;
	char *pairs[64];
	size_t npairs = 0;
	char *p;

	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->storage))
		return bip_cni_errf(e, BIP_CNI_EENV, "invalid CNI_ARGS: longer than %zu bytes",
				    sizeof(a->storage) - 1);
	strcpy(a->storage, s);
	if (!*a->storage)
		return 0;
	/* Split into pairs first: IgnoreUnknown applies wherever it appears. */
	for (p = a->storage;;) {
		char *semi = strchr(p, ';');

		if (npairs == sizeof(pairs) / sizeof(pairs[0]))
			return bip_cni_errf(e, BIP_CNI_EENV,
					    "invalid CNI_ARGS: more than %zu pairs",
					    sizeof(pairs) / sizeof(pairs[0]));
		if (semi)
			*semi = '\0';
		pairs[npairs++] = p;
		if (!semi)
			break;
		p = semi + 1;
	}
	for (size_t i = 0; i < npairs; i++) {
		char *eq = strchr(pairs[i], '=');

		if (!eq || eq == pairs[i] || strchr(eq + 1, '='))
			return bip_cni_errf(e, BIP_CNI_EENV,
					    "invalid CNI_ARGS pair '%s': want KEY=VALUE", pairs[i]);
		*eq = '\0';
		for (size_t j = 0; j < i; j++)
			if (strcmp(pairs[j], pairs[i]) == 0)
				return bip_cni_errf(e, BIP_CNI_EENV,
						    "invalid CNI_ARGS: key %s given twice",
						    pairs[i]);
		if (strcmp(pairs[i], "IgnoreUnknown") == 0) {
			int rc = args_bool(pairs[i], eq + 1, &a->ignore_unknown, e);

			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < npairs; i++) {
		const char *k = pairs[i];
		char *v = pairs[i] + strlen(pairs[i]) + 1;
		const struct arg_key *ak = arg_key_find(k);
		int rc;

		if (!ak) {
			if (a->ignore_unknown)
				continue;
			bip_cni_errf(e, BIP_CNI_EENV, "invalid CNI_ARGS: unknown key '%s'", k);
			bip_cni_err_details(e, "set IgnoreUnknown=1 to ignore keys blockipam does "
					       "not use");
			return BIP_CNI_EENV;
		}
		if (strcmp(k, "IP") == 0) {
			rc = args_ips(v, a, e);
			if (rc)
				return rc;
			continue;
		}
		if (!ak->off || !*v)
			continue; /* IgnoreUnknown (done), or an empty value: unset */
		if (!bip_cni_name_ok(v, BIP_ATTR_MAX))
			return bip_cni_errf(e, BIP_CNI_EENV,
					    "invalid CNI_ARGS %s='%s': must match "
					    "^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$, at most %d bytes",
					    k, v, BIP_ATTR_MAX);
		*(const char **)((char *)a + ak->off) = v;
	}
	return 0;
}
