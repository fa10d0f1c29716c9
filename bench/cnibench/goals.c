/*
 * cnibench's goals: each judged from what the rows kept, in the order of RESULTS.md's goals
 * table (results.json's "goals" array).
 */
#include <stdlib.h>
#include <string.h>

#include "cnibench.h"

/* The exec'd ADD median over the floor, at each row-2 size and on the scale store. */
static void goal_floor_ratio(struct bench *b)
{
	struct goal *g =
	    goal_add(b, "exec'd ADD median ≤ 2× the floor at every store size", "≤ 2.00×");
	double worst = 0, rr;
	char list[200] = "", b1[32];
	size_t off = 0;

	for (int k = 0; k < 3; k++) {
		rr = b->pairs.pb[k].sa.med / b->floor.ms;
		worst = rr > worst ? rr : worst;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%.2f× (%s held)",
					k ? ", " : "", rr, fcount(b1, (double)b->p.held[k]));
	}
	rr = b->scale.ps.sa.med / b->scale.floor2.med;
	worst = rr > worst ? rr : worst;
	snprintf(list + off, sizeof(list) - off, ", %.2f× (%s held, scale row)", rr,
		 fcount(b1, (double)b->scale.n));
	goal_measured(g, "%s", list);
	goal_judge(g, worst, 2.0, true);
}

/* host-local's ADD median over blockipam's at row-2 size k. */
static void goal_vs_host_local(struct bench *b, int k, const char *name, const char *target,
			       int decimals, double limit)
{
	const struct pairs_out *pb = &b->pairs.pb[k], *ph = &b->pairs.ph[k];
	struct goal *g = goal_add(b, name, target);
	char b1[32], b2[32];

	if (!b->pairs.have_ph[k]) {
		goal_na(g, "n/a (host-local missing)");
		return;
	}
	goal_measured(g, "%.*f× (host-local %s, blockipam %s)", decimals, ph->sa.med / pb->sa.med,
		      fms(b1, ph->sa.med), fms(b2, pb->sa.med));
	goal_judge(g, ph->sa.med / pb->sa.med, limit, false);
}

static void goals_conc(struct bench *b)
{
	const struct conc_out *cb = &b->conc.cb[2], *ch = &b->conc.ch[2];
	struct goal *g;
	char b1[32];

	g = goal_add(b, "32 callers: ≥ 5× host-local's aggregate ADD/s", "≥ 5×");
	if (b->conc.have_ch) {
		goal_measured(g, "%.2f× (%.0f vs %.0f ADD/s)", cb->rate / ch->rate, cb->rate,
			      ch->rate);
		goal_judge(g, cb->rate / ch->rate, 5, false);
	} else {
		goal_na(g, "n/a (host-local missing)");
	}
	g = goal_add(b, "32 callers: ADD p99 ≤ 10 ms", "≤ 10 ms");
	goal_measured(g, "%s", fms(b1, cb->st.p99));
	goal_judge(g, cb->st.p99, 10, true);
	g = goal_add(b, "32 callers: ADD max ≤ 50 ms", "≤ 50 ms");
	goal_measured(g, "%s", fms(b1, cb->st.max));
	goal_judge(g, cb->st.max, 50, true);
	g = goal_add(b, "32 callers: zero duplicate addresses (and no failed ADD)", "0");
	goal_measured(g, "%zu duplicates, %zu failed, %zu distinct of %zu", cb->dups, cb->fails,
		      cb->distinct, cb->ops);
	goal_judge(g, (double)(cb->dups + cb->fails), 0, true);
	if (g->state == G_MISSED)
		goal_missed(g, "missed");
}

static void goal_burst(struct bench *b)
{
	const struct row_burst *r = &b->burst;
	struct goal *g =
	    goal_add(b, "110-pod burst: all addressed in < 0.5 s (median of runs)", "< 0.5 s");
	char b1[32], b2[32], why[96];

	goal_measured(g, "%s (median of %zu; worst %s)", fms(b1, r->bws.med), r->bws.n,
		      fms(b2, r->bws.max));
	goal_judge(g, r->bws.med, 500, true);
	if (r->fail_b || r->dup_b) {
		snprintf(why, sizeof(why), "missed (%zu failed, %zu duplicates)", r->fail_b,
			 r->dup_b);
		goal_missed(g, why);
	}
}

/* blockipamctl command c on the scale store within limit_ms. */
static void goal_cli(struct bench *b, int c, const char *name, const char *target, double limit_ms)
{
	const struct cli_run *cr = &b->scale.cli[c];
	struct goal *g = goal_add(b, name, target);
	char b1[32];

	if (!cr->ran) {
		goal_na(g, cr->why);
		return;
	}
	goal_measured(g, "%s (exit %d)", fms(b1, cr->ms), cr->status);
	goal_judge(g, cr->ms, limit_ms, true);
	if (!cr->ok)
		goal_missed(g, "missed (the command failed)");
}

static void goal_cli_memory(struct bench *b)
{
	struct goal *g = goal_add(b, "Scale: CLI peak memory < 200 MB", "< 200 MB");
	long worst = 0;
	bool any = false, failed = false;

	for (int c = 0; c < 3; c++) {
		const struct cli_run *cr = &b->scale.cli[c];

		if (!cr->ran)
			continue;
		any = true;
		failed = failed || !cr->ok;
		worst = cr->rss_kb > worst ? cr->rss_kb : worst;
	}
	if (any && failed) {
		goal_na(g, "not judged: a command failed");
		goal_measured(g, "%.1f MB (of failed runs)", worst / 1024.0);
	} else if (any) {
		goal_measured(g, "%.1f MB (largest of the commands run)", worst / 1024.0);
		goal_judge(g, worst / 1024.0, 200, true);
	} else {
		goal_na(g, "n/a (not built)");
	}
}

static void goals_store(struct bench *b)
{
	const struct row_scale *r = &b->scale;
	const struct etcd_row *e = &b->e6;
	struct goal *g;
	char b1[32], b2[32], b3[32];

	g = goal_add(b, "≤ 200 bytes of store per address (550,000 held)", "≤ 200 B");
	goal_measured(g, "%.1f B (%s bytes)", (double)r->bytes / (double)r->n,
		      fcount(b1, (double)r->bytes));
	goal_judge(g, (double)r->bytes / (double)r->n, 200, true);
	g = goal_add(b, "etcd, one local member: exec'd ADD median ≤ 2.5 ms (empty pool)",
		     "≤ 2.5 ms");
	if (!e->ran || e->pt[0].sa.n == 0) {
		goal_na(g, "not run (no etcd)");
		return;
	}
	goal_measured(g, "%s (p99 %s; host-local on local disk %s, same run)",
		      fms(b1, e->pt[0].sa.med), fms(b2, e->pt[0].sa.p99),
		      b->pairs.have_ph[0] ? fms(b3, b->pairs.ph[0].sa.med) : "n/a");
	goal_judge(g, e->pt[0].sa.med, 2.5, true);
}

void write_goals(struct bench *b)
{
	const struct row_scale *r = &b->scale;
	struct goal *g;
	char b1[32], b2[32];

	goal_floor_ratio(b);
	goal_vs_host_local(b, 0, "≥ 3× faster than host-local, empty pool (ADD median)", "≥ 3×", 2,
			   3);
	goal_vs_host_local(b, 1, "≥ 30× faster than host-local at 5,000 held (ADD median)", "≥ 30×",
			   1, 30);
	g = goal_add(b, "ADD median at 550,000 held within 1.2× of an empty store", "≤ 1.20×");
	goal_measured(g, "%.2f× (%s vs %s)", r->ps.sa.med / r->pe.sa.med, fms(b1, r->ps.sa.med),
		      fms(b2, r->pe.sa.med));
	goal_judge(g, r->ps.sa.med / r->pe.sa.med, 1.2, true);
	goals_conc(b);
	goal_burst(b);
	goal_cli(b, 0, "Scale: `ipam show` < 2 s on 550,000", "< 2 s", 2000);
	goal_cli(b, 1, "Scale: `ipam check` < 10 s on 550,000", "< 10 s", 10000);
	goal_cli_memory(b);
	goals_store(b);
	goals_claim(b);
	json_object_set_new(b->root, "goals", goals_json(b));
}
