/*
 * Resolving an etcd endpoint's host to the addresses to connect to (resolve.h says which way
 * each build does it). The reader of the hosts file is small and strict: a line is an address
 * that inet_pton accepts whole and the names after it; anything else on a line is never
 * guessed at, and the file is read in one piece or not at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef BIP_STATIC_PLUGIN
#include <netdb.h>
#endif

#include "blockipam/err.h"
#include "../store_int.h"
#include "resolve.h"

/* Append one address; false when out is full. */
static bool add(struct bip_resolved *out, int family, const unsigned char *a, unsigned port)
{
	struct sockaddr_storage *ss;

	if (out->n >= BIP_RESOLVE_MAX)
		return false;
	ss = &out->addr[out->n];
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, a, 4);
		out->len[out->n] = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, a, 16);
		out->len[out->n] = sizeof(*s6);
	}
	out->n++;
	return true;
}

/* s[0..n) as a whole numeric address (IPv4 dotted quad or IPv6) into out. */
static bool numeric(const char *s, size_t n, unsigned port, struct bip_resolved *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];

	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		return add(out, AF_INET, a, port);
	if (inet_pton(AF_INET6, buf, a) == 1)
		return add(out, AF_INET6, a, port);
	return false;
}

static bool ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next blank-separated field of [*p, end): false at the end. */
static bool next_field(const char **p, const char *end, const char **f, size_t *flen)
{
	const char *s = *p;

	while (s < end && blank(*s))
		s++;
	if (s == end)
		return false;
	*f = s;
	while (s < end && !blank(*s))
		s++;
	*flen = (size_t)(s - *f);
	*p = s;
	return true;
}

/* One line [p, end), comment removed: its address into out when a name on it is name. */
static void hosts_line(const char *p, const char *end, const char *name, size_t nlen, unsigned port,
		       struct bip_resolved *out)
{
	struct bip_resolved one = {0};
	const char *f;
	size_t flen;

	if (!next_field(&p, end, &f, &flen) || !numeric(f, flen, port, &one))
		return;
	while (next_field(&p, end, &f, &flen))
		if (flen == nlen && ascii_caseeq(f, name, nlen)) {
			if (out->n < BIP_RESOLVE_MAX) {
				out->addr[out->n] = one.addr[0];
				out->len[out->n++] = one.len[0];
			}
			return;
		}
}

void bip__hosts_lookup(const char *text, size_t len, const char *name, unsigned port,
		       struct bip_resolved *out)
{
	const char *p = text, *end = text + len;
	size_t nlen = strlen(name);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		const char *hash = memchr(p, '#', (size_t)(le - p));

		hosts_line(p, hash ? hash : le, name, nlen, port, out);
		p = eol ? eol + 1 : end;
	}
}

/* The whole file into *text (NULL, 0 when it does not exist). */
static int read_hosts(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = BIP_EIO;

	*text = NULL;
	*len = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return BIP_OK;
		bip__store_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return BIP_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)BIP_HOSTS_MAX) {
		bip__store_seterr(err, errlen,
				  "cannot read %s: not a regular file of at most %u bytes", path,
				  BIP_HOSTS_MAX);
		goto out;
	}
	rc = BIP_ENOMEM;
	*text = malloc((size_t)st.st_size + 1);
	if (!*text)
		goto out;
	rc = BIP_EIO;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *text + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			bip__store_seterr(err, errlen, "cannot read %s: %s", path,
					  r < 0 ? strerror(errno) : "it shrank while read");
			goto out;
		}
		got += (size_t)r;
	}
	*len = got;
	rc = BIP_OK;
out:
	close(fd);
	if (rc != BIP_OK) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int bip__resolve_static(const char *host, const char *port, const char *hosts_path,
			struct bip_resolved *out, char *err, size_t errlen)
{
	static const unsigned char lo4[4] = {127, 0, 0, 1}, lo6[16] = {[15] = 1};
	unsigned p = (unsigned)strtoul(port, NULL, 10); /* endpoint.c checked it: 1..65535 */
	char *text;
	size_t len;
	int rc;

	out->n = 0;
	if (numeric(host, strlen(host), p, out))
		return BIP_OK;
	rc = read_hosts(hosts_path, &text, &len, err, errlen);
	if (rc != BIP_OK)
		return rc;
	bip__hosts_lookup(text ? text : "", len, host, p, out);
	free(text);
	if (out->n)
		return BIP_OK;
	if (strlen(host) == 9 && ascii_caseeq(host, "localhost", 9)) {
		add(out, AF_INET, lo4, p);
		add(out, AF_INET6, lo6, p);
		return BIP_OK;
	}
	bip__store_seterr(err, errlen,
			  "cannot resolve '%s': the static plugin resolves only IP addresses, "
			  "'localhost' and the names in %s (no DNS); use an IP address, or the "
			  "dynamic build of the plugin (make STATIC_PLUGIN=0)",
			  host, hosts_path);
	return BIP_EAGAIN;
}

#ifdef BIP_STATIC_PLUGIN
int bip__resolve(const char *host, const char *port, struct bip_resolved *out, char *err,
		 size_t errlen)
{
	return bip__resolve_static(host, port, BIP_HOSTS_FILE, out, err, errlen);
}
#else
int bip__resolve(const char *host, const char *port, struct bip_resolved *out, char *err,
		 size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);

	out->n = 0;
	if (gai != 0) {
		bip__store_seterr(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(gai));
		return gai == EAI_MEMORY ? BIP_ENOMEM : BIP_EAGAIN;
	}
	for (const struct addrinfo *ai = res; ai && out->n < BIP_RESOLVE_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out->addr[0]))
			continue;
		memcpy(&out->addr[out->n], ai->ai_addr, ai->ai_addrlen);
		out->len[out->n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (out->n == 0) {
		bip__store_seterr(err, errlen, "cannot resolve '%s': no address", host);
		return BIP_EAGAIN;
	}
	return BIP_OK;
}
#endif
