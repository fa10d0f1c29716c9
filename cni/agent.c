/*
 * The plugin's side of the agent (docs/agent.md): try the node agent's socket first, and on
 * any trouble let the caller do the work itself. Every wait is bounded: connecting to a Unix
 * socket either succeeds at once, fails at once (no file: ENOENT; nobody listening:
 * ECONNREFUSED) or, with a full backlog, waits at most BIP_AGENT_CONNECT_MS; the answer waits
 * at most BIP_AGENT_ANSWER_MS, well under the runtime's own timeout, so that a stopped or wedged
 * agent still leaves the plugin time to do the request itself. A fallback after a lost answer is
 * safe because every request is idempotent per handle (ADD of a handle that has its addresses
 * returns them; DEL of a released handle succeeds).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cni.h"

long long bip_cni_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bip_cni_io_full(int fd, void *buf, size_t len, bool write, long long deadline)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = write ? POLLOUT : POLLIN};
		long long left = deadline - bip_cni_now_ms();
		ssize_t n;

		if (left <= 0)
			return -1;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		n = write ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

const char *bip_cni_agent_socket(const char *conf, size_t len, char *buf, size_t buflen)
{
	json_t *root = json_loadb(conf, len, 0, NULL);
	json_t *v = root ? json_object_get(root, "agent") : NULL;
	const char *path = BIP_AGENT_SOCKET;

	if (!root || !json_is_object(root)) {
		path = NULL; /* the plugin's own parser says what is wrong */
	} else if (v) {
		path = json_is_string(v) ? json_string_value(v) : NULL;
		if (path && (!*path || strlen(path) >= buflen))
			path = NULL;
	}
	if (path) {
		snprintf(buf, buflen, "%s", path);
		path = buf;
	}
	json_decref(root);
	return path;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t el = sizeof(err);

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	if (errno != EAGAIN && errno != EINPROGRESS)
		goto fail;
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, BIP_AGENT_CONNECT_MS) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int bip_cni_agent_call(const char *path, const char *const *env, const char *in, size_t inlen,
		       uint8_t **frame, struct bip_cni_wire_ans *ans)
{
	uint8_t *req = NULL, *body = NULL, hdr[4];
	long long deadline;
	size_t rlen;
	uint32_t blen;
	int fd = -1, ret = -1;

	if (bip_cni_wire_req_encode(env, in, inlen, &req, &rlen))
		goto out;
	if ((fd = connect_to(path)) < 0)
		goto out;
	deadline = bip_cni_now_ms() + BIP_AGENT_ANSWER_MS;
	if (bip_cni_io_full(fd, req, rlen, true, deadline) ||
	    bip_cni_io_full(fd, hdr, 4, false, deadline))
		goto out;
	blen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (blen > BIP_WIRE_MAX - 4 || !(body = malloc(blen ? blen : 1)) ||
	    bip_cni_io_full(fd, body, blen, false, deadline) ||
	    bip_cni_wire_ans_decode(body, blen, ans))
		goto out;
	*frame = body;
	body = NULL;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(body);
	free(req);
	return ret;
}
