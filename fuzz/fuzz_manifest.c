/*
 * libFuzzer target for the manifest converter (cli/manifest.c) and the resource conversion behind
 * it (cli/resource.c): any input either fails with a message or gives documents that the YAML
 * writer turns into text that parses back to the same documents.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -D_GNU_SOURCE \
 *     fuzz/fuzz_manifest.c cli/manifest*.c cli/resource.c cli/output.c lib/addr.c lib/err.c \
 *     lib/ipam*.c -ljansson -lyaml -lm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli/manifest.h"
#include "../cli/resource.h"

/* A top-level list in a document would be read back as documents: compare only without. */
static int has_list_doc(const json_t *docs)
{
	size_t i;
	json_t *d;

	json_array_foreach(docs, i, d)
	{
		if (json_is_array(d))
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *docs = NULL, *back = NULL;
	struct bip_res *v = NULL;
	char err[512], *text = NULL;
	size_t len = 0, n = 0;
	FILE *f;

	if (bip_manifest_parse((const char *)data, size, &docs, err, sizeof(err)) != BIP_OK)
		return 0;
	if (bip_res_from_docs(docs, &v, &n, NULL, err, sizeof(err)) == BIP_OK) {
		for (size_t i = 0; i < n; i++)
			json_decref(bip_res_to_json(&v[i]));
		bip_res_free(v, n);
	}
	f = open_memstream(&text, &len);
	if (!f || bip_manifest_emit_yaml(f, docs) != BIP_OK)
		abort();
	fclose(f);
	if (bip_manifest_parse(text, len, &back, err, sizeof(err)) != BIP_OK) {
		fprintf(stderr, "written YAML does not parse: %s\n%s\n", err, text);
		abort();
	}
	if (!has_list_doc(docs) && !json_equal(docs, back)) {
		fprintf(stderr, "round trip differs:\n%s\n", text);
		abort();
	}
	json_decref(back);
	json_decref(docs);
	free(text);
	return 0;
}
