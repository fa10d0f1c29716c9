/*
 * version: this CLI's release, the CNI versions of the plugin it ships with, the record layout
 * it reads and writes, and (unless --client) the store's: its address, its revision and, for
 * SQLite, the file's schema version (PRAGMA user_version). Also what 'blockipamctl --version'
 * prints (the client lines only).
 */
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "blockipam/version.h"
#include "ctl.h"
#include "subcommands.h"

static const struct ctl_usage usage = {
    "version", "[--client]",
    "Print the release of blockipamctl and its plugin, the CNI versions the plugin speaks, the\n"
    "store record layout, the libraries linked, and the store's address, revision and schema\n"
    "version (for SQLite the file's user_version).\n"
    "\n"
    "Options:\n"
    "  --client          only this program's versions; do not open the store\n"};

static const char *const cni_versions[] = {BIP_CNI_SPEC_VERSIONS};
#define NCNI (sizeof(cni_versions) / sizeof(cni_versions[0]))

static json_t *client_json(void)
{
	json_t *cni = json_array();

	for (size_t v = 0; cni && v < NCNI; v++)
		json_array_append_new(cni, json_string(cni_versions[v]));
	return json_pack("{s:s, s:o, s:i, s:s, s:{s:s, s:s}}", "version", BIP_VERSION,
			 "cniVersions", cni ? cni : json_null(), "recordVersion",
			 BIP_RECORD_VERSION, "keyPrefix", BIP_STORE_DEFAULT_PREFIX, "libraries",
			 "jansson", JANSSON_VERSION, "libyaml", yaml_get_version_string());
}

void ctl_print_version(FILE *f)
{
	fprintf(f, "blockipamctl %s (blockipam plugin %s, CNI ", BIP_VERSION, BIP_VERSION);
	for (size_t v = 0; v < NCNI; v++)
		fprintf(f, "%s%s", v ? ", " : "", cni_versions[v]);
	fprintf(f, "; record layout v%d)\n", BIP_RECORD_VERSION);
}

static int count_none(void *ctx, const struct bip_kv *kv)
{
	(void)ctx;
	(void)kv;
	return 0;
}

/* The schema version of a SQLite store file, -1 when it cannot be read. SQLite keeps it (PRAGMA
 * user_version) in the file's 100-byte header, a big-endian 32-bit integer at offset 60 (the
 * file format is documented and stable): read there, the CLI needs no SQLite of its own. */
static long long sqlite_schema(const char *addr)
{
	const char *path = strncmp(addr, "sqlite://", 9) == 0 ? addr + 9 : addr;
	unsigned char h[100];
	int fd;
	long long v = -1;

	if (path[0] != '/' || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	    memcmp(h, "SQLite format 3", 16) == 0)
		v = (long long)((uint32_t)h[60] << 24 | (uint32_t)h[61] << 16 |
				(uint32_t)h[62] << 8 | h[63]);
	close(fd);
	return v;
}

int version_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"client", no_argument, NULL, 'c'}, CTL_LONGOPTS};
	struct ctl_session s = {0};
	const char *addr = ctl_store_addr();
	bool client_only = false, is_sqlite;
	json_t *out = NULL, *store = NULL;
	long long schema = -1;
	int64_t rev = 0;
	int ret = CTL_EXIT_ERR, c, rc;

	while ((c = ctl_getopt(&usage, argc, argv, CTL_SHORTOPTS, longopts)) > 0)
		if (c == 'c')
			client_only = true;
	if ((rc = ctl_args(&usage, c, argc, argv, 0, 0)) != CTL_CONTINUE) {
		ret = rc;
		goto out;
	}
	addr = ctl_store_addr();
	is_sqlite = strncmp(addr, "sqlite://", 9) == 0 || addr[0] == '/';
	if (!(out = json_pack("{s:o}", "client", client_json()))) {
		ctl_err("out of memory");
		goto out;
	}
	if (ctl_tabular()) {
		ctl_print_version(stdout);
		printf("libraries: jansson %s, libyaml %s\n", JANSSON_VERSION,
		       yaml_get_version_string());
	}
	if (client_only) {
		ret = ctl_tabular() ? CTL_EXIT_OK : ctl_print(out);
		goto out;
	}
	if (ctl_tabular())
		fflush(stdout);
	if (ctl_open(&s, true) != CTL_EXIT_OK)
		goto out;
	if ((rc = bip_store_list_cb(s.store, "version/", 0, count_none, NULL, &rev)) != BIP_OK) {
		ctl_lib_err(NULL, rc, "cannot read the revision of store '%s'", addr);
		goto out;
	}
	if (is_sqlite)
		schema = sqlite_schema(addr);
	store = json_pack("{s:s, s:s, s:I}", "address", addr, "backend",
			  is_sqlite ? "sqlite" : "etcd", "revision", (json_int_t)rev);
	if (!store || json_object_set_new(out, "store", store) != 0) {
		ctl_err("out of memory");
		goto out;
	}
	if (schema >= 0)
		json_object_set_new(store, "schemaVersion", json_integer(schema));
	if (ctl_tabular()) {
		printf("store: %s (%s), revision %lld", addr, is_sqlite ? "SQLite" : "etcd v3",
		       (long long)rev);
		if (schema >= 0)
			printf(", schema version %lld", schema);
		printf(", records v%d\n", BIP_RECORD_VERSION);
		ret = CTL_EXIT_OK;
	} else {
		ret = ctl_print(out);
	}
out:
	json_decref(out);
	ctl_close(&s);
	return ret;
}
