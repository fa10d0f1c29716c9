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

char *bip_fmt_count(bip_u128 v, char *buf, size_t len)
{
	static const char *const sfx[] = {"k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q"};
	char num[BIP_U128_STRLEN];
	long double x = (long double)v;
	int i = -1;

	if (v < (bip_u128)1000000000000u) {
		snprintf(buf, len, "%s", bip_fmt_u128(v, num));
		return buf;
	}
	while (x >= 999.95L && i < 9) {
		x /= 1000.0L;
		i++;
	}
	snprintf(buf, len, "%.1Lf%s", x, sfx[i]);
	return buf;
}

char *bip_fmt_pct(bip_u128 v, bip_u128 total, char *buf, size_t len)
{
	long double p = (long double)v * 100.0L / (long double)total;

	/* rounded to one decimal, halves to even (6.25 and 93.75 make 6.2 + 93.8), so that parts
	 * add up to 100%; but a part that is not all is never shown as 100.0%, nor a part that
	 * is not nothing as 0.0% */
	if (v && v < total && p < 0.05L)
		snprintf(buf, len, "<0.1%%");
	else if (v < total && p >= 99.95L)
		snprintf(buf, len, ">99.9%%");
	else
		snprintf(buf, len, "%.1Lf%%", rintl(p * 10.0L) / 10.0L);
	return buf;
}

char *bip_fmt_count_pct(bip_u128 v, bip_u128 total, char *buf, size_t len)
{
	char num[BIP_U128_STRLEN], pct[16];

	bip_fmt_count(v, num, sizeof(num));
	if (!total)
		snprintf(buf, len, "%s", num);
	else
		snprintf(buf, len, "%s (%s)", num, bip_fmt_pct(v, total, pct, sizeof(pct)));
	return buf;
}

void bip_table_print_or(const struct bip_table *t, FILE *f, const char *none)
{
	if (t->nrows > 1)
		bip_table_print(t, f);
	else
		fprintf(stderr, "%s\n", none);
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
