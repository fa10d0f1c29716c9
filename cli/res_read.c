/*
 * The strict typed JSON reader every resource converter uses (res_kind.h).
 *
 * Every field is read through one typed getter that names the field and the bad value; every
 * object's keys are checked against the fields its form knows, so a misspelt field is an error and
 * never a silently ignored setting. Names and labels are checked here too.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "res_kind.h"

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool bip_res_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BIP_NAME_MAX || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (; *s; s++)
		if (!is_alnum(*s) && *s != '-' && *s != '.' && *s != '_')
			return false;
	return true;
}

/*
 * Kubernetes' rule for object names (apimachinery's IsDNS1123Subdomain and IsDNS1123Label): at
 * most 253 (a label: 63) of a-z 0-9 - and ., each dot-separated part starting and ending with a
 * letter or digit; a label has no dot. Calico names its resources by the same rule.
 */
bool bip_res_k8s_name_ok(const char *s, bool label)
{
	size_t n = strlen(s);
	bool lower = true;

	if (n == 0 || n > (label ? 63u : 253u))
		return false;
	for (const char *p = s; *p && lower; p++)
		lower = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			(*p == '.' && !label);
	if (!lower)
		return false;
	/* a '.' or '-' at either end of a part: no letter or digit before or after it there */
	for (const char *p = s; *p; p++)
		if ((*p == '.' || *p == '-') && (p == s || p[-1] == '.' || !p[1] || p[1] == '.'))
			return false;
	return true;
}

/* Label keys are what selectors can name: [A-Za-z0-9_./-]+ (selector.h). */
static bool label_key_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BIP_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr("_./-", *s))
			return false;
	return true;
}

static bool label_value_ok(const char *s)
{
	if (strlen(s) > BIP_NAME_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* --- typed getters ------------------------------------------------------------------------ */

int bip_rd_bad(struct bip_rd *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || !c->errlen)
		return BIP_EINVAL;
	n = snprintf(c->err, c->errlen, "%s: ", c->src);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return BIP_EINVAL;
}

void bip_rd_warn(struct bip_rd *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!c->warnings)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", c->src);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	json_array_append_new(c->warnings, json_string(msg));
}

/* "string 'x'", "integer 5", "a mapping", ... for messages. */
const char *bip_rd_describe(const json_t *v, char *buf, size_t len)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		snprintf(buf, len, "string '%.64s%s'", json_string_value(v),
			 json_string_length(v) > 64 ? "..." : "");
		return buf;
	case JSON_INTEGER:
		snprintf(buf, len, "integer %" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, len, "number %g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/*
 * Whether a key of a document is shown in an error. `apply -f` aimed at the wrong file (a key,
 * /etc/shadow) must not print what the file holds: a key is shown only when it could be a field
 * name, and a document that is not a mapping only by its type.
 */
static bool showable_key(const char *key)
{
	size_t n =
	    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/");

	return n == strlen(key) && n <= 64;
}

const char *bip_rd_type_word(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

const json_t *bip_rd_field(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	return v && !json_is_null(v) ? v : NULL;
}

int bip_rd_want(struct bip_rd *c, const char *path, const char *key, const char *what,
		const json_t *v)
{
	char buf[128];

	return bip_rd_bad(c, "%s%s%s: want %s, got %s", path, *path ? "." : "", key, what,
			  bip_rd_describe(v, buf, sizeof(buf)));
}

int bip_rd_string(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
		  const char **out)
{
	const json_t *v = bip_rd_field(obj, key);

	if (!v)
		return BIP_OK;
	if (!json_is_string(v))
		return bip_rd_want(c, path, key, "a string", v);
	*out = json_string_value(v);
	return BIP_OK;
}

int bip_rd_bool(struct bip_rd *c, const json_t *obj, const char *path, const char *key, bool *out)
{
	const json_t *v = bip_rd_field(obj, key);

	if (!v)
		return BIP_OK;
	if (!json_is_boolean(v))
		return bip_rd_want(c, path, key, "true or false", v);
	*out = json_is_true(v);
	return BIP_OK;
}

int bip_rd_int(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
	       json_int_t min, json_int_t max, json_int_t *out)
{
	const json_t *v = bip_rd_field(obj, key);
	char what[96];

	if (!v)
		return BIP_OK;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(what, sizeof(what),
			 "an integer from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT, min,
			 max);
		return bip_rd_want(c, path, key, what, v);
	}
	*out = json_integer_value(v);
	return BIP_OK;
}

int bip_rd_enum(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
		const char *const *allowed, const char **out)
{
	const json_t *v = bip_rd_field(obj, key);
	char what[128] = "";

	if (!v || (json_is_string(v) && bip_rd_in(allowed, json_string_value(v)))) {
		if (v)
			*out = json_string_value(v);
		return BIP_OK;
	}
	for (size_t i = 0; allowed[i]; i++)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s",
			 i == 0		  ? ""
			 : allowed[i + 1] ? ", "
					  : " or ",
			 allowed[i]);
	return bip_rd_want(c, path, key, what, v);
}

/* A list whose elements are all strings (borrowed); NULL when not given. */
int bip_rd_strings(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
		   const json_t **out)
{
	const json_t *v = bip_rd_field(obj, key), *e;
	char buf[128];
	size_t i;

	*out = NULL;
	if (!v)
		return BIP_OK;
	if (!json_is_array(v))
		return bip_rd_want(c, path, key, "a list of strings", v);
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return bip_rd_bad(c, "%s.%s[%zu]: want a string, got %s", path, key, i,
					  bip_rd_describe(e, buf, sizeof(buf)));
	}
	*out = v;
	return BIP_OK;
}

int bip_rd_dup(const char *s, char **out)
{
	if (!s)
		return BIP_OK;
	*out = strdup(s);
	return *out ? BIP_OK : BIP_ENOMEM;
}

/* --- which fields each object may hold ---------------------------------------------------- */

bool bip_rd_in(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

int bip_rd_check(struct bip_rd *c, const json_t *obj, const char *path,
		 const struct bip_rd_fields *fs)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		char known[768] = "";

		if (bip_rd_in(fs->known, key) || bip_rd_in(fs->kept, key) ||
		    bip_rd_in(fs->ignored, key))
			continue;
		if (bip_rd_in(fs->warned, key)) {
			bip_rd_warn(c, "%s%s%s is ignored: %s", path, *path ? "." : "", key,
				    fs->why);
			continue;
		}
		for (const char *const *k = fs->known; *k; k++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
				 k == fs->known ? "" : ", ", *k);
		/* a pool's kept fields are Calico's: an operator who knows Calico looks for them */
		for (const char *const *k = fs->kept; k && *k; k++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
				 k == fs->kept ? "; Calico's, kept for its dataplane: " : ", ", *k);
		if (!showable_key(key))
			return bip_rd_bad(
			    c,
			    "unknown field in %s: a key of %zu bytes that is no field name "
			    "(not shown; is this a manifest?) (known: %s)",
			    *path ? path : "the document", strlen(key), known);
		return bip_rd_bad(c, "unknown field '%s%s%s' (known: %s)", path, *path ? "." : "",
				  key, known);
	}
	return BIP_OK;
}

/* --- labels and CIDRs --------------------------------------------------------------------- */

int bip_rd_labels(struct bip_rd *c, const json_t *meta, struct bip_label_set *out)
{
	const json_t *labels = bip_rd_field(meta, "labels");
	const char *key;
	json_t *v;
	char buf[128];
	size_t i = 0;

	if (!labels)
		return BIP_OK;
	if (!json_is_object(labels))
		return bip_rd_want(c, "metadata", "labels", "a mapping of strings", labels);
	out->v = calloc(json_object_size(labels) + 1, sizeof(*out->v));
	if (!out->v)
		return BIP_ENOMEM;
	json_object_foreach((json_t *)labels, key, v)
	{
		char *k, *val;

		if (!label_key_ok(key))
			return bip_rd_bad(c,
					  "metadata.labels: invalid label key '%s' (want 1-253 of "
					  "A-Z a-z 0-9 _ . / -)",
					  key);
		if (!json_is_string(v))
			return bip_rd_bad(c, "metadata.labels.%s: want a string, got %s (quote it)",
					  key, bip_rd_describe(v, buf, sizeof(buf)));
		if (!label_value_ok(json_string_value(v)))
			return bip_rd_bad(
			    c,
			    "metadata.labels.%s: invalid value (at most 253 characters, "
			    "no control characters)",
			    key);
		k = strdup(key);
		val = strdup(json_string_value(v));
		if (!k || !val) {
			free(k);
			free(val);
			return BIP_ENOMEM;
		}
		out->v[i].key = k;
		out->v[i].value = val;
		out->n = ++i;
	}
	return BIP_OK;
}

int bip_rd_cidr(struct bip_rd *c, const char *path, const char *s, bool allow_bare,
		struct bip_prefix *out)
{
	int rc = bip_prefix_parse_ex(s, true, allow_bare, out);
	struct bip_prefix p;
	char net[BIP_PREFIX_STRLEN];

	if (rc == BIP_EHOSTBITS && bip_prefix_parse(s, &p) == BIP_OK) {
		p.addr = bip_prefix_first(p);
		return bip_rd_bad(c, "%s: CIDR '%s' has host bits set (the network is %s)", path, s,
				  bip_prefix_fmt(p, net));
	}
	if (rc != BIP_OK)
		return bip_rd_bad(c, "%s: invalid CIDR '%s'", path, s);
	return BIP_OK;
}
