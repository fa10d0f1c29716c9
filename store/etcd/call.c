/*
 * The etcd backend's one way to send a request: bip__etcd_call() POSTs to the current
 * endpoint over the kept-alive connection (http.c) and fails over and retries as below.
 *
 * Time. opts->timeout_ms (default DEFAULT_BUDGET_MS) is the budget of one store call, retries
 * included. Within it, a connect, and each wait for a reading request's answer, may last
 * ATTEMPT_MS: etcd answers in about a millisecond, and during a leader election it hangs
 * instead of failing (1.7 s measured), so a short wait then another endpoint is the way through.
 *
 * Retries. Failures of the transport (refused, reset, timed out, a malformed answer) and
 * answers that say "unavailable" (HTTP 5xx, gRPC Unavailable, e.g. 503 after 7 s without
 * quorum) move to the next endpoint; after a full round of endpoints the call sleeps a
 * jittered, growing backoff. Reads are retried until the budget runs out. A txn is retried only
 * when it certainly never reached etcd (the connection failed before the whole request was
 * written): once sent, a timeout or 5xx leaves its outcome unknown (a timed-out write was seen
 * applied later), so it is NOT sent again, and the call returns BIP_EAGAIN saying so. The
 * caller re-reads and recognises its own write (the allocator finds its handle record), where
 * a blind resend would report its own earlier success as a lost race. When the budget runs out:
 * BIP_EAGAIN. Certificates refused either way: BIP_EPERM, at once.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "blockipam/err.h"
#include "codec.h"
#include "etcd_int.h"
#include "../store_int.h"
#include "http.h"

#define BACKOFF_MIN_MS 25
#define BACKOFF_MAX_MS 400

/* gRPC status codes that etcd's gateway puts in error bodies. */
enum {
	GRPC_CANCELED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

/* --- calls, with fail-over and retries ------------------------------------------------ */

uint64_t bip__etcd_rand(struct etcd *e)
{
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return e->rng;
}

static void sleep_ms(int64_t ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (ms > 0 && nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

struct retry {
	int64_t deadline;
	size_t failed; /* endpoints failed in this round */
	int round;
};

/* The current endpoint failed: move on; after a whole round of failures, back off. */
static void fail_over(struct etcd *e, struct retry *r)
{
	bip__http_conn_close(&e->conn);
	e->cur = (e->cur + 1) % e->neps;
	if (++r->failed < e->neps)
		return;
	r->failed = 0;
	int64_t base = BACKOFF_MIN_MS << (r->round < 4 ? r->round : 4);
	int64_t left = r->deadline - bip__http_now_ms();

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	base = base / 2 + (int64_t)(bip__etcd_rand(e) % (uint64_t)(base / 2 + 1));
	sleep_ms(base < left ? base : left);
	r->round++;
}

/* An error answer's code in store terms; *transient when another try may succeed. */
static int map_status(int status, int code, bool *transient)
{
	*transient = false;
	switch (code) {
	case GRPC_INVALID_ARGUMENT:
		return BIP_EINVAL;
	case GRPC_PERMISSION_DENIED:
	case GRPC_UNAUTHENTICATED:
		return BIP_EPERM;
	case GRPC_OUT_OF_RANGE: /* a pinned revision was compacted: start over */
		return BIP_EAGAIN;
	case GRPC_CANCELED:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_ABORTED:
	case GRPC_UNAVAILABLE:
		*transient = true;
		return BIP_EAGAIN;
	default:
		break;
	}
	if (status >= 500) {
		*transient = true;
		return BIP_EAGAIN;
	}
	return BIP_EIO;
}

int bip__etcd_call(struct etcd *e, const char *path, const char *body, size_t len, bool idempotent,
		   struct bip_http_res *res)
{
	struct retry r = {.deadline = bip__http_now_ms() + e->budget_ms};
	char why[256] = "", last[300] = "";
	int rc, last_rc = BIP_EAGAIN;

	for (;;) {
		const struct endpoint *ep = &e->eps[e->cur];
		int64_t now = bip__http_now_ms(), left = r.deadline - now;
		bool sent = false, transient;
		int code;

		if (left <= 0)
			break;
		if (!bip__http_conn_alive(&e->conn)) {
			int64_t cdl = now + (e->attempt_ms < left ? e->attempt_ms : left);

			rc = bip__http_connect(&e->conn, ep->host, ep->port, e->tls, cdl, why,
					       sizeof(why));
			if (rc == BIP_EPERM || rc == BIP_ENOMEM || rc == BIP_EINVAL) {
				bip__store_seterr(e->errmsg, sizeof(e->errmsg), "etcd %s: %s",
						  ep->hosthdr, why);
				return rc;
			}
			if (rc != BIP_OK) {
				/* An attempt the budget cut short says less than the one before
				 * it ("timed out" after two "refused"): keep that one. */
				if (!*last || e->attempt_ms < left)
					snprintf(last, sizeof(last), "%s: %s", ep->hosthdr, why);
				last_rc = BIP_EAGAIN;
				fail_over(e, &r);
				continue;
			}
		}
		rc = bip__http_post(&e->conn, ep->hosthdr, path, body, len,
				    idempotent && e->attempt_ms < left ? e->attempt_ms : (int)left,
				    r.deadline, res, &sent, why, sizeof(why));
		if (rc == BIP_OK && res->status == 200)
			return BIP_OK;
		if (rc == BIP_EPERM || rc == BIP_ENOMEM) {
			bip__store_seterr(e->errmsg, sizeof(e->errmsg), "etcd %s: %s", ep->hosthdr,
					  why);
			return rc;
		}
		if (rc == BIP_OK) {
			char msg[200];

			bip__etcd_decode_error(res->body, res->len, &code, msg, sizeof(msg));
			rc = map_status(res->status, code, &transient);
			snprintf(why, sizeof(why), "HTTP %d: %s", res->status,
				 *msg ? msg : "(no message)");
			if (!transient || !idempotent) {
				bip__store_seterr(
				    e->errmsg, sizeof(e->errmsg), "etcd %s %s: %s%s", ep->hosthdr,
				    path, why,
				    transient ? " (the change may or may not have been applied)"
					      : "");
				return rc;
			}
			bip__http_conn_close(&e->conn);
		} else if (!idempotent && sent) {
			bip__store_seterr(
			    e->errmsg, sizeof(e->errmsg),
			    "etcd %s %s: %s; the change may or may not have been applied",
			    ep->hosthdr, path, why);
			return BIP_EAGAIN;
		}
		if (!*last || e->attempt_ms < left || rc == BIP_OK)
			snprintf(last, sizeof(last), "%s: %s", ep->hosthdr, why);
		last_rc = rc == BIP_EIO ? BIP_EIO : BIP_EAGAIN;
		fail_over(e, &r);
	}
	bip__store_seterr(e->errmsg, sizeof(e->errmsg),
			  "etcd %s: no answer to %s within %d ms (last: %s)", e->endpoints, path,
			  e->budget_ms, *last ? last : "no attempt");
	return last_rc;
}
