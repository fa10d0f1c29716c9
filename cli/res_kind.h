/*
 * Resource kinds behind one ops table (Redis's dictType, this project's bip_store_ops): each kind
 * of resource.h lives in its own file (res_pool.c, res_reservation.c, res_config.c, res_node.c,
 * res_namespace.c) and fills one struct bip_res_kind_ops; resource.c and resource_store.c hold the
 * table and the loops every kind shares. Adding a field to a kind touches its file; adding a kind
 * adds a file and a table row.
 *
 * res_read.c is the strict typed JSON reader the converters share: every field read through one
 * getter that names the field and the bad value (bip_rd_*), every object's keys checked against
 * the fields its form knows. Private to cli/resource*.c and cli/res_*.c.
 */
#ifndef BIP_CLI_RES_KIND_H
#define BIP_CLI_RES_KIND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "resource.h"

/* --- the strict reader (res_read.c) ------------------------------------------------------ */

/* The form a document is written in: blockipam.io/v1 or one of Calico's. */
enum bip_rd_form { BIP_RD_OURS, BIP_RD_CALICO };

/* One conversion: what names the document in messages, where errors and warnings go. */
struct bip_rd {
	char src[BIP_NAME_MAX + 96]; /* "document 2 item 1 (IPPool p1)" */
	char *err;
	size_t errlen;
	json_t *warnings;
	enum bip_rd_form form;
};

/* Which fields an object may hold. */
struct bip_rd_fields {
	const char *const *known;   /* converted */
	const char *const *kept;    /* kept verbatim (pool: into extra) */
	const char *const *ignored; /* set by a server, meaningless here: ignored silently */
	const char *const *warned;  /* ignored, with a warning */
	const char *why;	    /* the warning's reason */
};

/* err = "<src>: <fmt>"; returns BIP_EINVAL. */
int bip_rd_bad(struct bip_rd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "<src>: <fmt>" to the warnings. */
void bip_rd_warn(struct bip_rd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "string 'x'", "integer 5", "a mapping", ... for messages (buf holds the longer ones). */
const char *bip_rd_describe(const json_t *v, char *buf, size_t len);
/* "a mapping", "a string", ...: a value by its type only. */
const char *bip_rd_type_word(const json_t *v);
/* obj.key, NULL when absent or null ("not given"); obj may be NULL. */
const json_t *bip_rd_field(const json_t *obj, const char *key);
/* "<path>.<key>: want <what>, got <v>"; returns BIP_EINVAL. */
int bip_rd_want(struct bip_rd *c, const char *path, const char *key, const char *what,
		const json_t *v);
/* Typed getters: a field not given leaves *out untouched and returns BIP_OK. */
int bip_rd_string(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
		  const char **out);
int bip_rd_bool(struct bip_rd *c, const json_t *obj, const char *path, const char *key, bool *out);
int bip_rd_int(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
	       json_int_t min, json_int_t max, json_int_t *out);
/* A string that is one of allowed (NULL-terminated); else "want A, B or C, got ...". */
int bip_rd_enum(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
		const char *const *allowed, const char **out);
/* A list whose elements are all strings (borrowed); *out NULL when not given. */
int bip_rd_strings(struct bip_rd *c, const json_t *obj, const char *path, const char *key,
		   const json_t **out);
/* *out = strdup(s), nothing when s is NULL; BIP_ENOMEM. */
int bip_rd_dup(const char *s, char **out);
/* Whether s is in the NULL-terminated list (list may be NULL). */
bool bip_rd_in(const char *const *list, const char *s);
/* Every key of obj is one fs knows (a warned one adds a warning); else an error naming it. */
int bip_rd_check(struct bip_rd *c, const json_t *obj, const char *path,
		 const struct bip_rd_fields *fs);
/* metadata.labels into out (owned strings). */
int bip_rd_labels(struct bip_rd *c, const json_t *meta, struct bip_label_set *out);
/* A CIDR without host bits; allow_bare takes a bare address as its /32 or /128. */
int bip_rd_cidr(struct bip_rd *c, const char *path, const char *s, bool allow_bare,
		struct bip_prefix *out);

/* --- our form out (resource.c) ----------------------------------------------------------- */

/* The document around spec (stolen); labels (stolen) may be NULL. NULL on ENOMEM. */
json_t *bip_res_doc_new(enum bip_res_kind k, const char *name, json_t *labels, json_t *spec);
json_t *bip_res_labels_json(const struct bip_label_set *l);
json_t *bip_res_prefixes_json(const struct bip_prefix *v, size_t n);
void bip_res_labels_clear(struct bip_label_set *l);
/* Append doc (stolen) to docs; BIP_ENOMEM when doc is NULL or the append fails. */
int bip_res_add(json_t *docs, json_t *doc);

/* --- the ops table ------------------------------------------------------------------------ */

/* A column of `get` tables. */
struct bip_res_col {
	const char *header;
	const char *path; /* "spec.cidr"; "@other" = the pool's kept Calico fields */
	bool wide;
};

struct bip_res_kind_ops {
	const char *name;	    /* our manifest kind: "Pool" */
	const char *word;	    /* singular CLI word: "pool" */
	const char *const words[8]; /* every CLI spelling, compared without case */
	const char *fixed_name;	    /* the one resource of the kind (IPAM config), else NULL */
	/* Calico's projectcalico.org/v3 kind that `get` prints for Calico's words, NULL for none;
	 * calico_spec, when set, turns our spec into Calico's in place, or returns false (spec
	 * untouched) when Calico's form cannot say what it holds. */
	const char *calico_kind;
	const char *const calico_words[5];
	bool (*calico_spec)(json_t *spec);
	bool labelled; /* metadata.labels is kept */
	const struct bip_res_col *columns;
	/* The resource's name. */
	const char *(*name_of)(const struct bip_res *r);
	/* spec (and meta, for labels) into r->u; name is checked. r->u is freed by clear. */
	int (*convert)(struct bip_rd *c, const char *name, const json_t *meta, const json_t *spec,
		       struct bip_res *r);
	json_t *(*to_json)(const struct bip_res *r);
	/* NULL when the kind owns nothing. */
	void (*clear)(struct bip_res *r);
	/* The library's own validation (msg its reason); NULL when there is none. */
	int (*validate)(const struct bip_res *r, char *msg, size_t len);
	/* The store side: *doc (our form), BIP_ENOTFOUND when absent; append all to docs. */
	int (*get)(struct bip_ipam *ipam, const char *name, json_t **doc);
	int (*list)(struct bip_ipam *ipam, json_t *docs);
	int (*put)(struct bip_ipam *ipam, struct bip_res *r, bool create_only);
	int (*del)(struct bip_ipam *ipam, const char *name);
};

extern const struct bip_res_kind_ops bip_res_pool_ops, bip_res_reservation_ops, bip_res_config_ops,
    bip_res_node_ops, bip_res_namespace_ops;

/* The ops of a kind; NULL for a value out of range. */
const struct bip_res_kind_ops *bip_res_ops(enum bip_res_kind k);

/* Calico pool fields blockipam keeps verbatim in bip_pool.extra (res_pool.c). */
extern const char *const bip_res_pool_kept[];

#endif
