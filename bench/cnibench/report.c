/*
 * cnibench's report: results.json (indented, with the raw samples' arrays on one line each),
 * the goals list, RESULTS.md's shared parts (header, method, goals, machine load) and the
 * number formats its tables use.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cnibench.h"

/* ---- JSON ------------------------------------------------------------------------------- */

json_t *jr(double x, int decimals)
{
	double m = pow(10, decimals);

	return json_real(round(x * m) / m);
}

json_t *stats_json(const struct stats *st, const struct samples *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "n", json_integer((json_int_t)st->n));
	if (st->n) {
		json_object_set_new(o, "median_ms", jr(st->med, 3));
		json_object_set_new(o, "p90_ms", jr(st->p90, 3));
		json_object_set_new(o, "p99_ms", jr(st->p99, 3));
		json_object_set_new(o, "max_ms", jr(st->max, 3));
		json_object_set_new(o, "mean_ms", jr(st->mean, 3));
	}
	if (s) {
		json_t *a = json_array();

		for (size_t i = 0; i < s->n; i++)
			json_array_append_new(a, json_integer((json_int_t)llround(s->v[i] * 1000)));
		json_object_set_new(o, "samples_us", a);
	}
	return o;
}

static void jscalar(FILE *f, const json_t *j)
{
	char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));

	fputs(s ? s : "null", f);
	free(s);
}

/* Indented JSON whose arrays of scalars stay on one line (the raw samples). */
void jemit(FILE *f, json_t *j, int ind)
{
	if (json_is_object(j)) {
		size_t i = 0, n = json_object_size(j);
		const char *k;
		json_t *v;

		if (!n) {
			fputs("{}", f);
			return;
		}
		fputs("{\n", f);
		json_object_foreach(j, k, v)
		{
			json_t *key = json_string(k);

			fprintf(f, "%*s", 2 * (ind + 1), "");
			jscalar(f, key);
			json_decref(key);
			fputs(": ", f);
			jemit(f, v, ind + 1);
			fputs(++i < n ? ",\n" : "\n", f);
		}
		fprintf(f, "%*s}", 2 * ind, "");
	} else if (json_is_array(j)) {
		size_t i, n = json_array_size(j);
		bool flat = true;
		json_t *v;

		json_array_foreach(j, i, v) flat = flat && !json_is_object(v) && !json_is_array(v);
		if (!n || flat) {
			fputc('[', f);
			json_array_foreach(j, i, v)
			{
				if (i)
					fputc(',', f);
				jscalar(f, v);
			}
			fputc(']', f);
			return;
		}
		fputs("[\n", f);
		json_array_foreach(j, i, v)
		{
			fprintf(f, "%*s", 2 * (ind + 1), "");
			jemit(f, v, ind + 1);
			fputs(i + 1 < n ? ",\n" : "\n", f);
		}
		fprintf(f, "%*s]", 2 * ind, "");
	} else {
		jscalar(f, j);
	}
}

/* ---- goals ------------------------------------------------------------------------------------
 */

struct goal *goal_add(struct bench *b, const char *name, const char *target)
{
	struct goal *g = &b->goals[b->ngoals++];

	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->target, sizeof(g->target), "%s", target);
	snprintf(g->measured, sizeof(g->measured), "n/a");
	snprintf(g->verdict, sizeof(g->verdict), "n/a (not measured)");
	g->state = G_NA;
	return g;
}

/* value must be <= limit (upper) or >= limit (!upper); unit for the "by how much" text. */
void goal_judge(struct goal *g, double value, double limit, bool upper)
{
	bool met = upper ? value <= limit : value >= limit;

	g->state = met ? G_MET : G_MISSED;
	if (met)
		snprintf(g->verdict, sizeof(g->verdict), "met");
	else if (upper)
		snprintf(g->verdict, sizeof(g->verdict), "missed (%.2f× over the limit)",
			 value / limit);
	else
		snprintf(g->verdict, sizeof(g->verdict), "missed (%.0f%% of the target)",
			 100 * value / limit);
}

void goal_measured(struct goal *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void goal_measured(struct goal *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->measured, sizeof(g->measured), fmt, ap);
	va_end(ap);
}

void goal_na(struct goal *g, const char *why)
{
	snprintf(g->measured, sizeof(g->measured), "n/a");
	snprintf(g->verdict, sizeof(g->verdict), "%s", why);
	g->state = G_NA;
}

/* ---- Markdown
 * ------------------------------------------------------------------------------------ */

void md(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(b->md, fmt, ap);
	va_end(ap);
}

/* "0.512 ms", "43.1 ms", "1.23 s" */
const char *fms(char *buf, double ms)
{
	if (ms >= 10000)
		snprintf(buf, 32, "%.1f s", ms / 1e3);
	else if (ms >= 1000)
		snprintf(buf, 32, "%.2f s", ms / 1e3);
	else if (ms >= 100)
		snprintf(buf, 32, "%.0f ms", ms);
	else if (ms >= 10)
		snprintf(buf, 32, "%.1f ms", ms);
	else
		snprintf(buf, 32, "%.3f ms", ms);
	return buf;
}

const char *fcount(char *buf, double v)
{
	long long n = llround(v);
	char tmp[32];
	int len, o = 0;

	len = snprintf(tmp, sizeof(tmp), "%lld", n < 0 ? -n : n);
	if (n < 0)
		buf[o++] = '-';
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

/* ---- machine
 * --------------------------------------------------------------------------------------- */

void read_field(const char *file, const char *key, char *out, size_t n)
{
	FILE *f = fopen(file, "r");
	char line[512];
	size_t kl = strlen(key);

	snprintf(out, n, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, key, kl) != 0 || !(v = strpbrk(line + kl, ":=")))
			continue;
		v++;
		while (*v == ' ' || *v == '\t' || *v == '"')
			v++;
		v[strcspn(v, "\"\n")] = '\0';
		snprintf(out, n, "%s", v);
		break;
	}
	fclose(f);
}

/* ---- load
 * ------------------------------------------------------------------------------------------ */

/* The load average as this row starts: the machine is shared, so it goes into the report. */
const char *row_load(struct bench *b, const char *row)
{
	char *buf = b->loadbuf;
	FILE *f = fopen("/proc/loadavg", "r");
	double l1 = -1, l5 = -1, l15 = -1;

	if (f) {
		if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) != 3)
			l1 = l5 = l15 = -1;
		fclose(f);
	}
	snprintf(buf, sizeof(b->loadbuf), "%.2f %.2f %.2f", l1, l5, l15);
	if (!b->load)
		b->load = json_object();
	json_object_set_new(b->load, row, json_string(buf));
	return buf;
}

void goal_missed(struct goal *g, const char *verdict)
{
	g->state = G_MISSED;
	snprintf(g->verdict, sizeof(g->verdict), "%s", verdict);
}

json_t *goals_json(const struct bench *b)
{
	json_t *ga = json_array();

	for (size_t i = 0; i < b->ngoals; i++) {
		const struct goal *g = &b->goals[i];
		json_t *j = json_object();

		json_object_set_new(j, "goal", json_string(g->name));
		json_object_set_new(j, "target", json_string(g->target));
		json_object_set_new(j, "measured", json_string(g->measured));
		json_object_set_new(j, "result",
				    json_string(g->state == G_MET      ? "met"
						: g->state == G_MISSED ? "missed"
								       : "n/a"));
		json_object_set_new(j, "detail", json_string(g->verdict));
		json_array_append_new(ga, j);
	}
	return ga;
}

void md_header(struct bench *b, const char *date, const char *cpu, const char *os, const char *mem,
	       const char *release, const char *machine, long nproc)
{
	md(b, "# blockipam benchmark results\n\n");
	if (b->p.quick)
		md(b, "**QUICK MODE (BIP_BENCH_QUICK): sizes are shrunk; these are not "
		      "results.**\n\n");
	md(b, "Written by `make bench` (bench/cnibench/, scripts/bench.sh); raw numbers, including "
	      "every sample, in [results.json](results.json).\n\n");
	md(b, "| | |\n|---|---|\n");
	md(b, "| date | %s |\n| commit | `%s` |\n", date, b->commit);
	md(b, "| machine | %ld CPU (%s), %s, kernel %s %s |\n", nproc, cpu, mem, release, machine);
	md(b, "| OS | %s |\n", os);
	md(b, "| stores | SQLite files and host-local's dataDir under `%s` |\n", b->tmp);
	md(b, "| peer | `%s` (containernetworking-plugins %s) |\n", HOST_LOCAL,
	   b->peer_ver ? b->peer_ver : "unknown");
}

void md_intro(struct bench *b, double total_s)
{
	md(b, "| run time | %.0f s (the whole harness) |\n\n", total_s);
	md(b,
	   "Every plugin call is a `posix_spawn` of the binary with an explicit environment "
	   "(`CNI_COMMAND`, `CNI_CONTAINERID` (64 hex), `CNI_NETNS`, `CNI_IFNAME=eth0`, "
	   "`CNI_PATH`, `CNI_ARGS` with `K8S_POD_*` as containerd sets it, `PATH`), the network "
	   "configuration written to a pipe on its stdin, stdout read to the end, then `wait4`; "
	   "no shell. A call's time runs from just before the spawn to just after the wait "
	   "(CLOCK_MONOTONIC). Peak memory is the child's `ru_maxrss` from `wait4`. host-local "
	   "runs in the same run, next to the blockipam cell it is compared with; ratios are "
	   "host-local ÷ blockipam (> 1: blockipam faster) unless the column says otherwise. "
	   "blockipam uses its embedded SQLite store, one pool `" POOL_CIDR "` with /26 blocks, "
	   "node `" NODE "`; host-local one range `" HL_SUBNET "`. The machine is shared and "
	   "noisy: differences under ~30%% between runs are noise, ratios within one run are the "
	   "reliable part.\n\n");
}

void md_goals(struct bench *b)
{
	md(b, "## Goals\n\n| goal | target | measured | result |\n|---|---|---|---|\n");
	for (size_t i = 0; i < b->ngoals; i++) {
		const struct goal *g = &b->goals[i];
		const char *em = g->state == G_MET ? "**" : "";

		md(b, "| %s | %s | %s | %s%s%s |\n", g->name, g->target, g->measured, em,
		   g->verdict, em);
	}
}

void md_load(struct bench *b)
{
	const char *k;
	json_t *v;

	md(b, "\n## Machine load during the run\n\nThe load average (1, 5, 15 min) from "
	      "/proc/loadavg as each step started. Other work shares this machine; with more "
	      "runnable processes than CPUs, wall times stretch, which is why each call's CPU time "
	      "(user + system, from wait4) is kept too.\n\n| step | load average |\n|---|---|\n");
	json_object_foreach(b->load, k, v) md(b, "| %s | %s |\n", k, json_string_value(v));
}
