/* Tables, JSON/YAML printing and shared formats (output.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockipam/err.h"
#include "manifest.h"
#include "output.h"

int bip_table_init(struct bip_table *t, size_t ncols, const char *const *headers)
{
	*t = (struct bip_table){.ncols = ncols};
	return bip_table_add(t, headers);
}

int bip_table_add(struct bip_table *t, const char *const *row)
{
	size_t i;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **v = realloc(t->cells, cap * t->ncols * sizeof(*v));

		if (!v)
			return BIP_ENOMEM;
		t->cells = v;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		const char *s = row[i] && *row[i] ? row[i] : "-";

		t->cells[t->nrows * t->ncols + i] = strdup(s);
		if (!t->cells[t->nrows * t->ncols + i])
			break;
	}
	if (i < t->ncols) {
		while (i-- > 0)
			free(t->cells[t->nrows * t->ncols + i]);
		return BIP_ENOMEM;
	}
	t->nrows++;
	return BIP_OK;
}

void bip_table_print(const struct bip_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (!w)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			w[c] = n > w[c] ? n : w[c];
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 < t->ncols)
				fprintf(f, "%-*s  ", (int)w[c], s);
			else
				fprintf(f, "%s\n", s);
		}
	}
	free(w);
}

void bip_table_free(struct bip_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (struct bip_table){0};
}

char *bip_fmt_u128(bip_u128 v, char *buf)
{
	char tmp[BIP_U128_STRLEN];
	size_t n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = '\0';
	return buf;
}

char *bip_fmt_count_pct(bip_u128 v, bip_u128 total, char *buf, size_t len)
{
	char num[BIP_U128_STRLEN];

	bip_fmt_u128(v, num);
	if (!total)
		snprintf(buf, len, "%s", num);
	else
		/* truncated, not rounded: 65535 of 65536 is 99.9%, never 100.0% */
		snprintf(buf, len, "%s (%.1Lf%%)", num,
			 floorl((long double)v * 1000.0L / (long double)total) / 10.0L);
	return buf;
}

json_t *bip_json_u128(bip_u128 v)
{
	char num[BIP_U128_STRLEN];

	if (v <= (bip_u128)INT64_MAX)
		return json_integer((json_int_t)v);
	return json_string(bip_fmt_u128(v, num));
}

char *bip_fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
	return buf;
}

static void put_scalar(FILE *f, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), f);
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(f, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_NULL:
		break;
	default: /* a list or mapping inside a list or mapping */
		json_dumpf(v, f, JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

char *bip_cell_text(const json_t *v)
{
	char *out = NULL;
	size_t len = 0, i;
	const char *key;
	json_t *e;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			fputs(i ? "," : "", f);
			put_scalar(f, e);
		}
	} else if (json_is_object(v)) {
		i = 0;
		json_object_foreach((json_t *)v, key, e)
		{
			fprintf(f, "%s%s=", i++ ? "," : "", key);
			put_scalar(f, e);
		}
	} else if (v) {
		put_scalar(f, v);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int bip_out_print(FILE *f, bool yaml, const json_t *v)
{
	int rc = BIP_OK;

	if (yaml) {
		json_t *docs = json_pack("[O]", v);

		rc = docs ? bip_manifest_emit_yaml(f, docs) : BIP_ENOMEM;
		json_decref(docs);
	} else if (json_dumpf(v, f, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0 ||
		   fputc('\n', f) == EOF) {
		rc = BIP_EIO;
	}
	return rc;
}
