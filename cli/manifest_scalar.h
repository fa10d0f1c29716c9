/*
 * The scalars of YAML's core schema, shared by the reader (manifest.c) and the writer
 * (manifest_emit.c) so that both agree on what a plain scalar means: which type it resolves to,
 * its value, and which strings must be quoted to read back as strings (in YAML 1.1 readers too).
 */
#ifndef BIP_CLI_MANIFEST_SCALAR_H
#define BIP_CLI_MANIFEST_SCALAR_H

#include <stdbool.h>

#include <jansson.h>

enum manifest_plain {
	MANIFEST_PLAIN_STR,
	MANIFEST_PLAIN_NULL,
	MANIFEST_PLAIN_BOOL,
	MANIFEST_PLAIN_INT,
	MANIFEST_PLAIN_FLOAT
};

/* The type a plain scalar (NUL-terminated) resolves to; ints are not checked for range here. */
enum manifest_plain manifest_plain_type(const char *s);
/* Resolve a plain scalar to a new value; NULL for an int out of range (or ENOMEM). */
json_t *manifest_resolve_plain(const char *s);
/* Whether the string s must be quoted so that a YAML 1.2 or 1.1 reader reads it as a string. */
bool manifest_needs_quotes(const char *s);

#endif
