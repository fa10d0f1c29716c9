/*
 * The typed getters of the plugin's JSON (the network configuration, the request's
 * runtimeConfig and args, a resolvConf): one set, used by every parser of cni/. A wrong type
 * is code 7 naming the field and the value (bip_cni_type_err); a missing field is left as it
 * is unless required.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

const char *bip_cni_json_type(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
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

unsigned bip_cni_type_err(struct bip_cni_err *e, const char *field, const json_t *v,
			  const char *want)
{
	char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	unsigned rc;

	rc = bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s: want %s, got %s %.80s%s", field, want,
			  bip_cni_json_type(v), txt ? txt : "",
			  txt && strlen(txt) > 80 ? "..." : "");
	free(txt);
	return rc;
}

int bip_cni_json_strings(json_t *arr, const char *field, const char ***out, size_t *n,
			 struct bip_cni_err *e)
{
	const char **v;
	size_t i;
	json_t *s;

	if (!json_is_array(arr))
		return bip_cni_type_err(e, field, arr, "a list of strings");
	v = calloc(json_array_size(arr) + 1, sizeof(*v));
	if (!v)
		return bip_cni_errf(e, BIP_CNI_ETRYLATER, "out of memory");
	json_array_foreach(arr, i, s)
	{
		char f[96];

		if (!json_is_string(s)) {
			snprintf(f, sizeof(f), "%s[%zu]", field, i);
			free(v);
			return bip_cni_type_err(e, f, s, "a string");
		}
		v[i] = json_string_value(s);
	}
	*out = v;
	*n = json_array_size(arr);
	return 0;
}

int bip_cni_json_str(json_t *obj, const char *key, const char *field, bool required,
		     const char **out, struct bip_cni_err *e)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		if (required)
			return bip_cni_errf(e, BIP_CNI_ECONFIG, "missing %s", field);
		return 0;
	}
	if (!json_is_string(v))
		return bip_cni_type_err(e, field, v, "a string");
	if (!*json_string_value(v))
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s: empty string", field);
	*out = json_string_value(v);
	return 0;
}

/* A boolean, or Calico's strings "true" / "false". */
int bip_cni_json_bool(json_t *obj, const char *key, const char *field, bool *out,
		      struct bip_cni_err *e)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0) {
		*out = true;
		return 0;
	}
	if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0) {
		*out = false;
		return 0;
	}
	return bip_cni_type_err(e, field, v, "true, false, \"true\" or \"false\"");
}

int bip_cni_json_long(json_t *obj, const char *key, const char *field, long min, long max,
		      long *out, struct bip_cni_err *e)
{
	json_t *v = json_object_get(obj, key);
	char want[64];

	if (!v)
		return 0;
	snprintf(want, sizeof(want), "an integer %ld-%ld", min, max);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return bip_cni_type_err(e, field, v, want);
	*out = (long)json_integer_value(v);
	return 0;
}

int bip_cni_json_addr(json_t *v, const char *field, struct bip_addr *out, struct bip_cni_err *e)
{
	if (!json_is_string(v))
		return bip_cni_type_err(e, field, v, "an IP address");
	if (bip_addr_parse(json_string_value(v), out) != BIP_OK)
		return bip_cni_errf(e, BIP_CNI_ECONFIG, "invalid %s: '%s' is not an IP address",
				    field, json_string_value(v));
	return 0;
}
