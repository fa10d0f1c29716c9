/*
 * Selector parsing. Accepted text must evaluate without trouble against fixed label sets, keep
 * its text, and parse again to a selector that decides the same. Refused text must come with a
 * terminated message that says where. A broken invariant aborts (a crash to libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockipam/err.h"
#include "blockipam/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct bip_label set_full[] = {
    {"a", "x"},
    {"b", "y"},
    {"c", ""},
    {"role", "worker"},
    {"kubernetes.io/os", "linux"},
    {"topology.kubernetes.io/zone", "us-east-1a"},
    {"in", "not"},
    {"has", "all"},
};
static const struct bip_label set_a[] = {{"a", "xyz"}};

static const struct {
	const struct bip_label *labels;
	size_t n;
} sets[] = {
    {NULL, 0},
    {set_a, 1},
    {set_full, sizeof(set_full) / sizeof(set_full[0])},
};

#define NSETS (sizeof(sets) / sizeof(sets[0]))

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bip_selector *sel = NULL, *again = NULL;
	char err[256], tiny[4];
	bool match[NSETS];
	char *text;
	int ret;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(err, 'Z', sizeof(err));
	ret = bip_selector_parse(text, &sel, err, sizeof(err));
	check(memchr(err, '\0', sizeof(err)) != NULL);
	/* Another buffer size, or none, gives the same answer. */
	check(bip_selector_parse(text, &again, tiny, sizeof(tiny)) == ret);
	check(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	bip_selector_free(again);
	again = NULL;
	check(bip_selector_parse(text, &again, NULL, 0) == ret);
	bip_selector_free(again);
	again = NULL;

	if (ret != BIP_OK) {
		check(ret == BIP_EINVAL || ret == BIP_ENOMEM);
		check(sel == NULL);
		check(ret != BIP_EINVAL || strstr(err, "at position") || strstr(err, "limit"));
		goto out;
	}
	check(err[0] == '\0');
	check(strcmp(bip_selector_text(sel), text) == 0);
	for (size_t i = 0; i < NSETS; i++)
		match[i] = bip_selector_match(sel, sets[i].labels, sets[i].n);
	/* Its own text parses again to a selector that decides the same. */
	check(bip_selector_parse(bip_selector_text(sel), &again, err, sizeof(err)) == BIP_OK);
	for (size_t i = 0; i < NSETS; i++)
		check(bip_selector_match(again, sets[i].labels, sets[i].n) == match[i]);
out:
	bip_selector_free(again);
	bip_selector_free(sel);
	free(text);
	return 0;
}
