/*
 * Manifests as text: YAML (libyaml) or JSON (jansson), one or many documents, turned into jansson
 * values; and jansson values written back as YAML. The one converter that every manifest, patch
 * and report goes through, and the one the fuzzer drives.
 *
 * Scalars follow the YAML 1.2 core schema: quoted scalars are strings; a plain scalar is null
 * (~, null, empty), a bool (true, false, any case form of the spec), an int (decimal, 0o octal,
 * 0x hex, within 64 bits), a float, or else a string. Anchors and aliases work (within a budget
 * of nodes, so that an alias bomb is refused); mapping keys are strings and unique; nesting is at
 * most BIP_MANIFEST_MAX_DEPTH deep; no NUL characters.
 */
#ifndef BIP_CLI_MANIFEST_H
#define BIP_CLI_MANIFEST_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define BIP_MANIFEST_MAX_DEPTH 64
#define BIP_MANIFEST_MAX_NODES 1000000

/*
 * Parse buf (len bytes, need not be NUL-terminated) into a new JSON array of documents. YAML
 * documents are separated by "---"; empty documents are skipped. Text whose first character is
 * '{' or '[' is read as JSON (one or several concatenated values), and as YAML flow style when
 * it is not JSON. In both, a top-level list contributes its elements as documents. On failure
 * returns BIP_EINVAL (BIP_ENOMEM) and writes "line L, column C: what" into err (the JSON message
 * when text that looks like JSON is neither); *docs_array is written only on success.
 */
int bip_manifest_parse(const char *buf, size_t len, json_t **docs_array, char *err, size_t errlen);

/*
 * Write each element of docs (an array) as one YAML document ("---" between them). Strings that
 * would read back as something else (true, 123, null, "") are quoted, so that the output parses
 * back to the same values. Returns BIP_OK, or BIP_EIO when writing fails.
 */
int bip_manifest_emit_yaml(FILE *f, const json_t *docs);

#endif
