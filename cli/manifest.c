/*
 * YAML/JSON text -> jansson values (manifest.h): the reader.
 *
 * The YAML side is driven by libyaml's event parser with an explicit stack (no recursion, so deep
 * input cannot exhaust the C stack): a container is pushed at its start event and attached to its
 * parent at its end event; a scalar is attached at once. Anchors are registered when their node is
 * complete, so an alias can never refer to a node that contains it. What type a plain scalar
 * has is manifest_scalar.c's; the YAML writer is manifest_emit.c.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "blockipam/err.h"
#include "manifest.h"
#include "manifest_scalar.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

struct frame {
	json_t *node; /* the container being filled */
	char *key;    /* mapping: the key waiting for its value; NULL when a key comes next */
	char *anchor; /* registered when the container ends */
	size_t nodes; /* nodes inside, the container included */
};

struct anchor {
	char *name;
	json_t *value;
	size_t nodes;
};

struct yp {
	struct frame stack[BIP_MANIFEST_MAX_DEPTH];
	size_t depth;
	struct anchor *anchors;
	size_t nanchors, anchors_cap;
	size_t nodes; /* made so far in this stream, aliases counted at their full size */
	json_t *root; /* of the current document */
	char *err;
	size_t errlen;
};

static int fail_at(struct yp *p, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct yp *p, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return BIP_EINVAL;
	n = snprintf(p->err, p->errlen, "line %zu, column %zu: ", m.line + 1, m.column + 1);
	if (n < 0 || (size_t)n >= p->errlen)
		return BIP_EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return BIP_EINVAL;
}

static void clear_anchors(struct yp *p)
{
	for (size_t i = 0; i < p->nanchors; i++) {
		free(p->anchors[i].name);
		json_decref(p->anchors[i].value);
	}
	p->nanchors = 0;
}

static void clear_stack(struct yp *p)
{
	while (p->depth) {
		struct frame *f = &p->stack[--p->depth];

		json_decref(f->node);
		free(f->key);
		free(f->anchor);
	}
	json_decref(p->root);
	p->root = NULL;
}

static int add_anchor(struct yp *p, const char *name, json_t *value, size_t nodes)
{
	struct anchor a = {.name = strdup(name), .value = json_incref(value), .nodes = nodes};

	if (!a.name)
		goto nomem;
	if (p->nanchors == p->anchors_cap) {
		size_t cap = p->anchors_cap ? 2 * p->anchors_cap : 8;
		struct anchor *v = realloc(p->anchors, cap * sizeof(*v));

		if (!v)
			goto nomem;
		p->anchors = v;
		p->anchors_cap = cap;
	}
	p->anchors[p->nanchors++] = a;
	return BIP_OK;
nomem:
	free(a.name);
	json_decref(a.value);
	return BIP_ENOMEM;
}

static const struct anchor *find_anchor(const struct yp *p, const char *name)
{
	/* the latest definition wins: YAML allows an anchor name to be reused */
	for (size_t i = p->nanchors; i-- > 0;)
		if (strcmp(p->anchors[i].name, name) == 0)
			return &p->anchors[i];
	return NULL;
}

static int count_nodes(struct yp *p, size_t n, yaml_mark_t m)
{
	if (n > BIP_MANIFEST_MAX_NODES - p->nodes)
		return fail_at(p, m, "more than %d nodes (aliases counted in full)",
			       BIP_MANIFEST_MAX_NODES);
	p->nodes += n;
	return BIP_OK;
}

/* Whether the parent expects a mapping key now. */
static bool want_key(const struct yp *p)
{
	const struct frame *top = p->depth ? &p->stack[p->depth - 1] : NULL;

	return top && json_is_object(top->node) && !top->key;
}

/* Attach a complete node (steals v) to its parent, or make it the document root. */
static int attach(struct yp *p, json_t *v, size_t nodes, yaml_mark_t m)
{
	struct frame *top;
	int rc = BIP_OK;

	if (!p->depth) {
		json_decref(p->root);
		p->root = v;
		return BIP_OK;
	}
	top = &p->stack[p->depth - 1];
	top->nodes += nodes;
	if (json_is_array(top->node)) {
		if (json_array_append_new(top->node, v) != 0)
			rc = BIP_ENOMEM;
		return rc;
	}
	if (json_object_get(top->node, top->key)) {
		rc = fail_at(p, m, "duplicate key '%s'", top->key);
		json_decref(v);
	} else if (json_object_set_new(top->node, top->key, v) != 0) {
		rc = BIP_ENOMEM;
	}
	free(top->key);
	top->key = NULL;
	return rc;
}

static int on_scalar(struct yp *p, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	json_t *v = NULL;
	int rc;

	if (strlen(s) != len)
		return fail_at(p, ev->start_mark, "a scalar holds a NUL character");
	if ((rc = count_nodes(p, 1, ev->start_mark)) != BIP_OK)
		return rc;
	if (want_key(p)) {
		if (tag && strcmp(tag, "!") != 0 && strcmp(tag, TAG_PREFIX "str") != 0)
			return fail_at(p, ev->start_mark, "a mapping key must be a string, not %s",
				       tag);
		if (anchor)
			return fail_at(p, ev->start_mark,
				       "anchors on mapping keys are not supported");
		p->stack[p->depth - 1].key = strdup(s);
		return p->stack[p->depth - 1].key ? BIP_OK : BIP_ENOMEM;
	}
	if (!tag || strcmp(tag, "!") == 0) {
		v = plain ? manifest_resolve_plain(s) : json_string(s);
		if (!v && plain)
			return fail_at(p, ev->start_mark, "integer '%s' is out of range", s);
	} else if (strcmp(tag, TAG_PREFIX "str") == 0) {
		v = json_string(s);
	} else {
		static const struct {
			const char *tag;
			enum manifest_plain type;
		} tags[] = {{TAG_PREFIX "null", MANIFEST_PLAIN_NULL},
			    {TAG_PREFIX "bool", MANIFEST_PLAIN_BOOL},
			    {TAG_PREFIX "int", MANIFEST_PLAIN_INT},
			    {TAG_PREFIX "float", MANIFEST_PLAIN_FLOAT}};
		size_t i;

		for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
			if (strcmp(tag, tags[i].tag) == 0)
				break;
		if (i == sizeof(tags) / sizeof(tags[0]))
			return fail_at(p, ev->start_mark, "unsupported tag '%s'", tag);
		if (manifest_plain_type(s) != tags[i].type &&
		    !(tags[i].type == MANIFEST_PLAIN_FLOAT &&
		      manifest_plain_type(s) == MANIFEST_PLAIN_INT))
			return fail_at(p, ev->start_mark, "'%s' is not a valid !!%s", s,
				       tags[i].tag + strlen(TAG_PREFIX));
		v = manifest_resolve_plain(s);
		if (v && tags[i].type == MANIFEST_PLAIN_FLOAT && json_is_integer(v)) {
			json_t *r = json_real((double)json_integer_value(v));

			json_decref(v);
			v = r;
		}
		if (!v)
			return fail_at(p, ev->start_mark, "integer '%s' is out of range", s);
	}
	if (!v)
		return fail_at(p, ev->start_mark, "a string is not valid UTF-8");
	if (anchor && (rc = add_anchor(p, anchor, v, 1)) != BIP_OK) {
		json_decref(v);
		return rc;
	}
	return attach(p, v, 1, ev->start_mark);
}

static int on_start(struct yp *p, const yaml_event_t *ev, bool mapping)
{
	const char *tag =
	    (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	const char *anchor = (const char *)(mapping ? ev->data.mapping_start.anchor
						    : ev->data.sequence_start.anchor);
	struct frame *f;
	int rc;

	if (want_key(p))
		return fail_at(p, ev->start_mark, "a mapping key must be a string, not a %s",
			       mapping ? "mapping" : "sequence");
	if (tag && strcmp(tag, "!") != 0 &&
	    strcmp(tag, mapping ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0)
		return fail_at(p, ev->start_mark, "unsupported tag '%s'", tag);
	if (p->depth == BIP_MANIFEST_MAX_DEPTH)
		return fail_at(p, ev->start_mark, "nested more than %d levels deep",
			       BIP_MANIFEST_MAX_DEPTH);
	if ((rc = count_nodes(p, 1, ev->start_mark)) != BIP_OK)
		return rc;
	f = &p->stack[p->depth];
	*f = (struct frame){.node = mapping ? json_object() : json_array(), .nodes = 1};
	if (anchor)
		f->anchor = strdup(anchor);
	if (!f->node || (anchor && !f->anchor)) {
		json_decref(f->node);
		free(f->anchor);
		return BIP_ENOMEM;
	}
	p->depth++;
	return BIP_OK;
}

static int on_end(struct yp *p, const yaml_event_t *ev)
{
	struct frame f = p->stack[--p->depth];
	int rc = BIP_OK;

	free(f.key); /* libyaml always completes a pair; defensive */
	if (f.anchor)
		rc = add_anchor(p, f.anchor, f.node, f.nodes);
	free(f.anchor);
	if (rc != BIP_OK) {
		json_decref(f.node);
		return rc;
	}
	return attach(p, f.node, f.nodes, ev->start_mark);
}

static int on_alias(struct yp *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const struct anchor *a = find_anchor(p, name);
	json_t *v;
	int rc;

	if (want_key(p))
		return fail_at(p, ev->start_mark, "an alias cannot be a mapping key");
	if (!a)
		return fail_at(p, ev->start_mark, "unknown alias '*%s'", name);
	if ((rc = count_nodes(p, a->nodes, ev->start_mark)) != BIP_OK)
		return rc;
	v = json_deep_copy(a->value);
	if (!v)
		return BIP_ENOMEM;
	return attach(p, v, a->nodes, ev->start_mark);
}

static int parser_error(struct yp *p, const yaml_parser_t *yp, const char *buf, size_t len)
{
	yaml_mark_t m = yp->problem_mark;

	if (yp->error == YAML_MEMORY_ERROR) {
		snprintf(p->err, p->errlen, "out of memory");
		return BIP_ENOMEM;
	}
	if (yp->context)
		return fail_at(p, m, "%s (%s at line %zu, column %zu)",
			       yp->problem ? yp->problem : "syntax error", yp->context,
			       yp->context_mark.line + 1, yp->context_mark.column + 1);
	if (yp->error == YAML_READER_ERROR) {
		/* the reader knows only the byte offset */
		m = (yaml_mark_t){0};
		for (size_t i = 0; i < yp->problem_offset && i < len; i++) {
			m.column = buf[i] == '\n' ? 0 : m.column + 1;
			m.line += buf[i] == '\n';
		}
		return fail_at(p, m, "%s", yp->problem ? yp->problem : "unreadable input");
	}
	return fail_at(p, m, "%s", yp->problem ? yp->problem : "syntax error");
}

/* A top-level value as documents: a list gives its elements, and null ("---" and nothing, or
 * a null element) is no document. */
static int add_docs(json_t *docs, json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return json_is_null(v) || json_array_append(docs, v) == 0 ? BIP_OK : BIP_ENOMEM;
	json_array_foreach(v, i, e)
	{
		if (!json_is_null(e) && json_array_append(docs, e) != 0)
			return BIP_ENOMEM;
	}
	return BIP_OK;
}

static int parse_yaml(const char *buf, size_t len, json_t *docs, char *err, size_t errlen)
{
	struct yp p = {.err = err, .errlen = errlen};
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int rc = BIP_OK;

	if (!yaml_parser_initialize(&parser))
		return BIP_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && rc == BIP_OK) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser_error(&p, &parser, buf, len);
			break;
		}
		switch (ev.type) {
		case YAML_SCALAR_EVENT:
			rc = on_scalar(&p, &ev);
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			rc = on_start(&p, &ev, ev.type == YAML_MAPPING_START_EVENT);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			rc = on_end(&p, &ev);
			break;
		case YAML_ALIAS_EVENT:
			rc = on_alias(&p, &ev);
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (p.root && add_docs(docs, p.root) != BIP_OK)
				rc = BIP_ENOMEM;
			json_decref(p.root);
			p.root = NULL;
			clear_anchors(&p);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (rc == BIP_ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	clear_stack(&p);
	clear_anchors(&p);
	free(p.anchors);
	yaml_parser_delete(&parser);
	return rc;
}

static size_t skip_space(const char *buf, size_t len, size_t off)
{
	while (off < len && strchr(" \t\r\n", buf[off]))
		off++;
	return off;
}

/* One or more concatenated JSON values; arrays at the top contribute their elements. */
static int parse_json(const char *buf, size_t len, json_t *docs, char *err, size_t errlen)
{
	size_t off = skip_space(buf, len, 0);

	while (off < len) {
		json_error_t e;
		json_t *v = json_loadb(
		    buf + off, len - off,
		    JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
		int rc = BIP_OK;

		if (!v) {
			/* jansson counts from buf + off; count from the start of the text */
			size_t line = 1, col = 1, end = off;

			if (e.line > 0) {
				for (size_t i = 0; i < off; i++) {
					col = buf[i] == '\n' ? 1 : col + 1;
					line += buf[i] == '\n';
				}
				col = e.line > 1 ? (size_t)e.column : col + (size_t)e.column - 1;
				line += (size_t)e.line - 1;
			} else {
				end = off + (size_t)e.position;
				for (size_t i = 0; i < end && i < len; i++) {
					col = buf[i] == '\n' ? 1 : col + 1;
					line += buf[i] == '\n';
				}
			}
			if (err && errlen)
				snprintf(err, errlen, "line %zu, column %zu: %s", line, col,
					 e.text);
			return BIP_EINVAL;
		}
		rc = add_docs(docs, v);
		json_decref(v);
		if (rc != BIP_OK)
			return rc;
		off = skip_space(buf, len, off + (size_t)e.position);
	}
	return BIP_OK;
}

int bip_manifest_parse(const char *buf, size_t len, json_t **docs_array, char *err, size_t errlen)
{
	json_t *docs = json_array();
	size_t start;
	int rc;

	if (err && errlen)
		*err = '\0';
	if (!docs)
		return BIP_ENOMEM;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	start = skip_space(buf, len, 0);
	if (start < len && (buf[start] == '{' || buf[start] == '[')) {
		rc = parse_json(buf, len, docs, err, errlen);
		if (rc == BIP_EINVAL) {
			/* YAML flow style looks like JSON too; keep the JSON message if both fail
			 */
			json_t *ydocs = json_array();

			if (ydocs && parse_yaml(buf, len, ydocs, NULL, 0) == BIP_OK) {
				json_decref(docs);
				docs = ydocs;
				rc = BIP_OK;
				if (err && errlen)
					*err = '\0';
			} else {
				json_decref(ydocs);
			}
		}
	} else {
		rc = parse_yaml(buf, len, docs, err, errlen);
	}
	if (rc != BIP_OK) {
		json_decref(docs);
		return rc;
	}
	*docs_array = docs;
	return BIP_OK;
}
