/*
 * jansson values -> YAML text (manifest.h): the writer behind -o yaml and the manifests the CLI
 * prints, driven by libyaml's emitter. A string that would read back as something else is quoted
 * (manifest_scalar.c decides), a real keeps a '.', so the output parses back to the same values.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "blockipam/err.h"
#include "manifest.h"
#include "manifest_scalar.h"

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? BIP_OK : BIP_EIO;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, bool is_string)
{
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
	bool plain_ok = true;
	yaml_event_t ev;

	if (is_string) {
		plain_ok = !manifest_needs_quotes(s);
		style = has_control(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
		if (!plain_ok && style == YAML_ANY_SCALAR_STYLE)
			style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
	}
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
					  plain_ok, 1, style))
		return BIP_ENOMEM;
	return emit(e, &ev);
}

static int emit_node(yaml_emitter_t *e, const json_t *v)
{
	char buf[64];
	yaml_event_t ev;
	int rc = BIP_OK;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;

		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE))
			return BIP_ENOMEM;
		if ((rc = emit(e, &ev)) != BIP_OK)
			return rc;
		json_object_foreach((json_t *)v, key, val)
		{
			if ((rc = emit_scalar(e, key, true)) != BIP_OK ||
			    (rc = emit_node(e, val)) != BIP_OK)
				return rc;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return BIP_ENOMEM;
		return emit(e, &ev);
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *val;

		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE))
			return BIP_ENOMEM;
		if ((rc = emit(e, &ev)) != BIP_OK)
			return rc;
		json_array_foreach(v, i, val)
		{
			if ((rc = emit_node(e, val)) != BIP_OK)
				return rc;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return BIP_ENOMEM;
		return emit(e, &ev);
	}
	case JSON_STRING:
		return emit_scalar(e, json_string_value(v), true);
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return emit_scalar(e, buf, false);
	case JSON_REAL:
		/* the shortest text that reads back as the same double */
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		if (strtod(buf, NULL) != json_real_value(v))
			snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		if (!strpbrk(buf, ".eE"))
			strcat(buf, ".0"); /* stays a float when read back */
		return emit_scalar(e, buf, false);
	case JSON_TRUE:
		return emit_scalar(e, "true", false);
	case JSON_FALSE:
		return emit_scalar(e, "false", false);
	case JSON_NULL:
		return emit_scalar(e, "null", false);
	}
	return BIP_EINVAL;
}

int bip_manifest_emit_yaml(FILE *f, const json_t *docs)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	size_t i;
	json_t *doc;
	int rc = BIP_ENOMEM;

	if (!yaml_emitter_initialize(&e))
		return BIP_ENOMEM;
	yaml_emitter_set_output_file(&e, f);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1); /* never fold long selectors */
	yaml_emitter_set_indent(&e, 2);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    (rc = emit(&e, &ev)) != BIP_OK)
		goto out;
	json_array_foreach(docs, i, doc)
	{
		rc = BIP_ENOMEM;
		if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0) ||
		    (rc = emit(&e, &ev)) != BIP_OK || (rc = emit_node(&e, doc)) != BIP_OK)
			goto out;
		rc = BIP_ENOMEM;
		if (!yaml_document_end_event_initialize(&ev, 1) || (rc = emit(&e, &ev)) != BIP_OK)
			goto out;
	}
	rc = BIP_ENOMEM;
	if (!yaml_stream_end_event_initialize(&ev) || (rc = emit(&e, &ev)) != BIP_OK)
		goto out;
	rc = yaml_emitter_flush(&e) && !ferror(f) ? BIP_OK : BIP_EIO;
out:
	yaml_emitter_delete(&e);
	return rc;
}
