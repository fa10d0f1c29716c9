/*
 * Resolving without NSS (store/etcd/resolve.c), as tables: the hosts file reader over texts,
 * and the static plugin's resolver over numeric addresses, a hosts file, "localhost" and names
 * it cannot resolve. Both are compiled into every build, so the dynamic build tests them too.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/etcd/resolve.h"
#include "blockipam/err.h"
#include "t.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The addresses of out as "a:port" or "[a]:port", comma-separated. */
static void show(const struct bip_resolved *out, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < out->n && n < len; i++) {
		char a[INET6_ADDRSTRLEN];
		const struct sockaddr_storage *ss = &out->addr[i];

		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
			n += (size_t)snprintf(buf + n, len - n, "%s%s:%u", i ? "," : "", a,
					      ntohs(s4->sin_port));
			T_CHECK(out->len[i] == sizeof(*s4), "entry %zu: length %u", i,
				(unsigned)out->len[i]);
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			n += (size_t)snprintf(buf + n, len - n, "%s[%s]:%u", i ? "," : "", a,
					      ntohs(s6->sin6_port));
			T_CHECK(ss->ss_family == AF_INET6 && out->len[i] == sizeof(*s6),
				"entry %zu: family %d, length %u", i, ss->ss_family,
				(unsigned)out->len[i]);
		}
	}
}

static const char hosts[] = "127.0.0.1\tlocalhost\n"
			    "::1 localhost ip6-localhost\n"
			    "# 10.0.0.9 etcd\n"
			    "10.0.0.1 etcd-a etcd  # etcd-b\n"
			    "10.0.0.2 ETCD\n"
			    "bad-line etcd\n"
			    "10.0.0.03 etcd\n"
			    "127.1 etcd\n"
			    "fe80::1%eth0 etcd\n"
			    "1.2.3.4\n"
			    "   \t\n"
			    "10.0.0.4 etcdx\r\n"
			    "2001:db8::5\tetcd\r\n"
			    "10.0.0.6 tail";

static const struct hosts_row {
	const char *name;
	const char *want;
} hosts_rows[] = {
    {"etcd", "10.0.0.1:2379,10.0.0.2:2379,[2001:db8::5]:2379"},
    {"Etcd-A", "10.0.0.1:2379"},
    {"localhost", "127.0.0.1:2379,[::1]:2379"},
    {"ip6-localhost", "[::1]:2379"},
    {"etcdx", "10.0.0.4:2379"},
    {"tail", "10.0.0.6:2379"}, /* the last line has no newline */
    {"etc", ""},
    {"etcd-b", ""},   /* in a comment */
    {"10.0.0.1", ""}, /* an address is not a name */
    {"bad-line", ""},
    {"", ""},
};

static void test_hosts_lookup(void)
{
	for (size_t i = 0; i < LEN(hosts_rows); i++) {
		const struct hosts_row *r = &hosts_rows[i];
		struct bip_resolved out = {0};
		char got[512];

		bip__hosts_lookup(hosts, sizeof(hosts) - 1, r->name, 2379, &out);
		show(&out, got, sizeof(got));
		T_CHECK(strcmp(got, r->want) == 0, "'%s': got '%s', want '%s'", r->name, got,
			r->want);
	}
}

static void test_hosts_edges(void)
{
	static const char nul[] = "10.0.0.8\0junk etcd\n10.0.0.9 etcd\n";
	struct bip_resolved out = {0};
	char text[17 * 32], got[1024];
	size_t n = 0;

	/* A NUL inside the address field makes the line no address. */
	bip__hosts_lookup(nul, sizeof(nul) - 1, "etcd", 1, &out);
	show(&out, got, sizeof(got));
	T_CHECK_STR(got, "10.0.0.9:1");
	/* Empty text: nothing. */
	out.n = 0;
	bip__hosts_lookup("", 0, "etcd", 1, &out);
	T_CHECK_INT(out.n, 0);
	/* At most BIP_RESOLVE_MAX addresses. */
	for (int i = 0; i < 17; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "10.1.0.%d e\n", i + 1);
	out.n = 0;
	bip__hosts_lookup(text, n, "e", 65535, &out);
	T_CHECK_INT(out.n, BIP_RESOLVE_MAX);
	show(&out, got, sizeof(got));
	T_CHECK(strncmp(got, "10.1.0.1:65535,10.1.0.2:65535,", 30) == 0, "got '%s'", got);
}

static const struct static_row {
	const char *host, *port;
	int hosts; /* 0: the file above, 1: no such file, 2: a directory */
	int rc;
	const char *want; /* the addresses, or a piece of the message */
} static_rows[] = {
    {"127.0.0.1", "2379", 1, BIP_OK, "127.0.0.1:2379"},
    {"::1", "443", 2, BIP_OK, "[::1]:443"}, /* numeric: the hosts file is not read */
    {"2001:db8::1", "1", 1, BIP_OK, "[2001:db8::1]:1"},
    {"etcd", "2379", 0, BIP_OK, "10.0.0.1:2379,10.0.0.2:2379,[2001:db8::5]:2379"},
    {"localhost", "2380", 0, BIP_OK, "127.0.0.1:2380,[::1]:2380"},
    {"LocalHost", "2379", 1, BIP_OK, "127.0.0.1:2379,[::1]:2379"}, /* built in */
    {"localhost.", "2379", 1, BIP_EAGAIN, "cannot resolve 'localhost.'"},
    {"127.1", "2379", 0, BIP_EAGAIN, "cannot resolve '127.1'"}, /* inet_pton: four parts */
    {"etcd.example.com", "2379", 0, BIP_EAGAIN, "make STATIC_PLUGIN=0"},
    {"etcd", "2379", 2, BIP_EIO, "not a regular file"},
};

static void test_resolve_static(void)
{
	char file[] = "/tmp/bip-hosts-XXXXXX", dir[] = "/tmp/bip-hostsdir-XXXXXX";
	int fd = mkstemp(file);

	T_REQUIRE(fd >= 0 && write(fd, hosts, sizeof(hosts) - 1) == (ssize_t)(sizeof(hosts) - 1));
	close(fd);
	T_REQUIRE(mkdtemp(dir));
	for (size_t i = 0; i < LEN(static_rows); i++) {
		const struct static_row *r = &static_rows[i];
		const char *path = r->hosts == 0   ? file
				   : r->hosts == 1 ? "/nonexistent/hosts"
						   : dir;
		struct bip_resolved out = {0};
		char err[512] = "", got[512];
		int rc = bip__resolve_static(r->host, r->port, path, &out, err, sizeof(err));

		T_CHECK(rc == r->rc, "'%s': rc %d, want %d (%s)", r->host, rc, r->rc, err);
		if (r->rc == BIP_OK) {
			show(&out, got, sizeof(got));
			T_CHECK(strcmp(got, r->want) == 0, "'%s': got '%s', want '%s'", r->host,
				got, r->want);
		} else {
			T_CHECK(strstr(err, r->want), "'%s': message '%s' lacks '%s'", r->host, err,
				r->want);
		}
	}
	unlink(file);
	rmdir(dir);
}

T_MAIN(T(test_hosts_lookup), T(test_hosts_edges), T(test_resolve_static))
