#!/usr/bin/env bash
# The image of deploy/kubernetes (deploy/Containerfile, staged by scripts/image.sh), built
# offline with `podman build` (FROM scratch: nothing is pulled) and run with podman:
# `blockipamctl --version`, kubectl inside it, and the DaemonSet's install step into a scratch
# host directory (the plugin lands in its opt/cni/bin, the conflist declares cniVersion 1.1.0).
# podman keeps everything in a temporary directory (vfs storage, file locks, events log; the
# recipe of tests/podman.sh), runs with --network none, and what podman 4.3 writes outside it
# is removed when it did not exist before. Needs root, podman, runc, busybox-static; anything
# missing is a loud, counted skip. Ends with "image: N passed, N failed, N skipped".
set -u
name=image
. "$(dirname "$0")/lib.sh"
checks="build version kubectl install-cni"
why=""
[ "$(id -u)" = 0 ] || why="not root (rootful podman)"
[ -z "$why" ] && why=$(why_not_cmd podman runc kubectl jq)
[ -z "$why" ] && { [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; } &&
	why="/bin/busybox is missing or not static (busybox-static)"
[ -z "$why" ] && { [ ! -x "$ctl" ] || [ ! -x "$plugin" ]; } &&
	why="build $build first"
# shellcheck disable=SC2086
[ -n "$why" ] && skip_all "$why (scripts/deps.sh test)" $checks

make_tmp
tag=localhost/blockipam-test:$$
cgparent=bip-image-$$
podman_note_outside
export CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf
pm() { timeout 120 podman --runtime runc "$@"; }
run() {
	pm run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
		--cgroup-parent "/$cgparent" "$@"
}
cleanup() {
	pm rm -a -f -t 0 >/dev/null 2>&1
	pm rmi -a -f >/dev/null 2>&1
	podman_tidy "$cgparent"
}
at_exit cleanup
printf '%s\n' '[network]' 'network_backend = "cni"' "network_config_dir = \"$tmp/net.d\"" '' \
	'[engine]' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
	"events_logfile_path = \"$tmp/events.log\"" "tmp_dir = \"$tmp/libpod\"" \
	'lock_type = "file"' >"$tmp/containers.conf"
printf '%s\n' '[storage]' 'driver = "vfs"' "graphroot = \"$tmp/storage\"" \
	"runroot = \"$tmp/run\"" >"$tmp/storage.conf"
mkdir -p "$tmp/net.d"

t0=$(date +%s%N)
if ! "$root/scripts/image.sh" "$build" "$tmp/ctx" >"$tmp/out" 2>&1; then
	bad "build: scripts/image.sh: $(tail -n 3 "$tmp/out")"
	finish
fi
if pm build --network none -t "$tag" -f "$tmp/ctx/Containerfile" "$tmp/ctx" >"$tmp/out" 2>&1; then
	ok "build: podman build (FROM scratch, offline) in $((($(date +%s%N) - t0) / 1000000)) ms," \
		"$(pm image inspect "$tag" --format '{{.Size}}' 2>/dev/null) bytes"
else
	bad "build: podman build: $(tail -n 5 "$tmp/out" | tr '\n' ' ')"
	finish
fi
want=$("$build/blockipamctl" --version)
if out=$(run "$tag" --version 2>&1) && [ "$out" = "$want" ]; then
	ok "version: blockipamctl --version in the image says '$out'"
elif printf '%s' "$out" | grep -qi "cgroup\|OCI runtime\|setrlimit"; then
	# shellcheck disable=SC2086
	skip_all "podman cannot run a container here: $out" $checks
else
	bad "version: got '$out', want '$want'"
fi
if out=$(run --entrypoint /usr/bin/kubectl "$tag" version --client 2>&1) &&
	printf '%s' "$out" | grep -q "Client Version"; then
	ok "kubectl: $(printf '%s' "$out" | head -n 1)"
else
	bad "kubectl in the image: $out"
fi
mkdir -p "$tmp/host" "$tmp/tpl"
printf '{"cniVersion": "1.1.0", "name": "k8s-pod-network", "plugins": [{"type": "ptp", "ipam": {"type": "blockipam", "store": "__STORE__"__TLS__, "node": "__NODE__"}}]}\n' \
	>"$tmp/tpl/10-blockipam.conflist"
if run -v "$tmp/host:/host" -v "$tmp/tpl:/etc/blockipam/cni:ro" -e BLOCKIPAM_STORE=etcd://10.0.0.1:2379 \
	-e NODE_NAME=node-1 -e INSTALL_ONCE=1 --entrypoint /bin/sh "$tag" \
	/usr/share/blockipam/install-cni.sh >"$tmp/out" 2>&1 &&
	[ -x "$tmp/host/opt/cni/bin/blockipam" ] &&
	[ "$(jq -r .cniVersion "$tmp/host/etc/cni/net.d/10-blockipam.conflist")" = 1.1.0 ] &&
	CNI_COMMAND=VERSION "$tmp/host/opt/cni/bin/blockipam" </dev/null | grep -q 1.1.0; then
	ok "install-cni: the image installs a plugin that runs here and a 1.1.0 conflist"
else
	bad "install-cni: $(cat "$tmp/out")"
fi
finish
