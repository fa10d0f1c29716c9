#!/usr/bin/env bash
# A real container runtime (issue #4): Debian's podman 4.3 with its CNI backend runs busybox
# containers on a network whose conflist is bridge + blockipam: docs/deploy.md's, this run's
# names put in.
#   - the container's eth0 carries the address blockipam handed out, from the pool, and the
#     store records it for that container (handle <network>.<container id>.eth0);
#   - a second container reaches the first (ping);
#   - `podman run --rm` and `podman rm` free the addresses (blockipamctl shows them released),
#     `ipam check` finds nothing, no handle is left.
# The recipe of /work/shared/reference/measured-here.md §7: runc (crun refuses hybrid cgroups
# here), explicit --ulimit nofile/nproc (no CAP_SYS_RESOURCE), cgroupfs, events_logger=file,
# CONTAINERS_CONF naming a temporary containers.conf (network_backend "cni", cni_plugin_dirs
# $BIP_BUILD and /usr/lib/cni, network_config_dir a temporary directory with the conflist), an
# image made by `podman import` of a busybox-static root filesystem.
# Everything podman keeps is in a temporary directory: storage (vfs driver: no mounts), run root,
# tmp_dir with file locks (no /dev/shm segment), events log. podman runs in a network namespace
# made here (nsenter --net), so its bridge and the host ends of the veths live there; container
# cgroups go under a parent named for this run and are removed; the two things podman 4.3 always
# writes outside (/var/lib/containers/cache/blob-info-cache-v1.boltdb, libcni's
# /var/lib/cni/results) are removed when they did not exist before.
# Needs root and podman (apt-get install -y --no-install-recommends podman runc busybox-static
# conmon catatonit); anything missing, or podman unable to run a container here at all, is a
# loud, counted skip with the reason. Prints "podman: N passed, N failed, N skipped".
set -u
name=podman
. "$(dirname "$0")/lib.sh"
checks="address reach rm-frees"
# shellcheck disable=SC2086 # the check names are words
skip_checks() { skip_all "$1" $checks; }
start=$(date +%s%N)

pkgs="podman runc busybox-static conmon catatonit"
why=""
[ "$(id -u)" = 0 ] || why="not root (rootful podman with CNI)"
[ -z "$why" ] && ! command -v podman >/dev/null &&
	why="podman is not installed (apt-get install -y --no-install-recommends $pkgs)"
[ -z "$why" ] && ! command -v runc >/dev/null && why="runc is not installed ($pkgs)"
[ -z "$why" ] && ! command -v conmon >/dev/null && why="conmon is not installed ($pkgs)"
[ -z "$why" ] && { [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; } &&
	why="/bin/busybox is missing or not static (apt-get install busybox-static)"
[ -z "$why" ] && ! ip netns list >/dev/null 2>&1 && why="'ip netns' is not available"
[ -z "$why" ] && ! command -v nsenter >/dev/null && why="nsenter is not installed (util-linux)"
[ -z "$why" ] && ! command -v jq >/dev/null && why="jq is not installed"
[ -z "$why" ] && [ ! -x "$cnidir/bridge" ] && why="$cnidir/bridge is not installed (containernetworking-plugins)"
[ -z "$why" ] && [ ! -x "$plugin" ] && why="$plugin is not built"
[ -z "$why" ] && [ ! -x "$ctl" ] && why="$ctl is not built"
[ -n "$why" ] && skip_checks "$why"

make_tmp
sfx=$$-$RANDOM
hostns=bippm-$sfx
net=bippm
cgparent=bip-podman-$sfx
image=localhost/bip-busybox:$sfx
export BLOCKIPAM_STORE="sqlite://$tmp/ipam.db"
export CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf
ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
# What podman writes outside its configured directories; removed at the end if new.
podman_note_outside
sandboxes=() conmons=() started=0

# pm ARGS...: podman, inside the network namespace made for it, with a time limit.
pm() {
	timeout 120 nsenter --net="/var/run/netns/$hostns" podman --runtime runc "$@"
}

cleanup() {
	local p s
	if [ "$started" = 1 ]; then
		pm rm -a -f -t 0 >/dev/null 2>&1
		pm rmi -a -f >/dev/null 2>&1
	fi
	# Whatever survived podman: its processes (by the pid podman reported), network
	# namespaces, mounts under the temporary directory, cgroups.
	for p in "${conmons[@]}"; do
		[ -n "$p" ] && [ "$p" != 0 ] && kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null
	done
	for s in "${sandboxes[@]}"; do
		[ -n "$s" ] && [ -e "$s" ] && ip netns del "$(basename "$s")" 2>/dev/null
	done
	[ -e "/var/run/netns/$hostns" ] && ip netns del "$hostns"
	# mounts under $tmp, the cgroups, what podman wrote outside
	podman_tidy "$cgparent"
}
at_exit cleanup
trap 'echo "interrupted"; exit 130' INT TERM

# ---- setup: store, podman's configuration, the image, podman's network namespace --------------

"$ctl" apply -f - >"$tmp/out" 2>&1 <<'EOF' || { bad "setup: apply: $(cat "$tmp/out")"; finish; }
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: podman-pool}
spec: {cidr: 10.249.0.0/24, blockSize: 26}
# No reservation: under bridge blockipam keeps the block's network, network+1 (the bridge's
# gateway with isGateway) and broadcast address out itself.
EOF
mkdir -p "$tmp/net.d" "$tmp/rootfs/bin"
# docs/deploy.md's conflist, with this run's names: the network, the bridge, no masquerading (no
# iptables rules left behind), the temporary store and a node name of its own.
awk '/^ *```json$/ {on = 1; next} on && /^ *```$/ {exit} on' "$root/docs/deploy.md" |
	jq --arg net "$net" --arg store "$BLOCKIPAM_STORE" '.name = $net |
		.plugins[0].bridge = "bippm0" | .plugins[0].ipMasq = false |
		.plugins[0].ipam.store = $store | .plugins[0].ipam.node = "podman-node"' \
		>"$tmp/net.d/$net.conflist" ||
	{ bad "setup: docs/deploy.md's conflist: $(cat "$tmp/net.d/$net.conflist")"; finish; }
cat >"$tmp/containers.conf" <<EOF
[network]
network_backend = "cni"
cni_plugin_dirs = ["$build", "$cnidir"]
network_config_dir = "$tmp/net.d"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$tmp/events.log"
tmp_dir = "$tmp/libpod"
lock_type = "file"
EOF
cat >"$tmp/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$tmp/storage"
runroot = "$tmp/run"
EOF
cp /bin/busybox "$tmp/rootfs/bin/busybox"
for c in sh ip ping sleep; do ln -s busybox "$tmp/rootfs/bin/$c"; done
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .
ip netns add "$hostns" && ip -n "$hostns" link set lo up || { bad "setup: ip netns add $hostns"; finish; }

started=1
if ! pm import "$tmp/busybox.tar" "$image" >"$tmp/out" 2>&1; then
	skip_checks "podman import fails here: $(tail -n 3 "$tmp/out" | tr '\n' ' ')"
fi
# Can podman run a container here at all (no network: nothing of ours is involved)?
if ! pm run --rm "${ulimits[@]}" --cgroup-parent "/$cgparent" --network none "$image" \
	/bin/sh -c 'echo ran' >"$tmp/out" 2>&1 || ! grep -qx ran "$tmp/out"; then
	skip_checks "podman cannot run a container here, even without a network: $(tail -n 3 "$tmp/out" | tr '\n' ' ')"
fi

# ---- the containers --------------------------------------------------------------------------

in_pool() { [[ $1 =~ ^10\.249\.0\.[0-9]+$ ]]; }

if ! pm run -d --name "c1-$sfx" "${ulimits[@]}" --cgroup-parent "/$cgparent" --network "$net" \
	"$image" /bin/sleep 600 >"$tmp/out" 2>&1; then
	bad "address: podman run on the blockipam network fails: $(tail -n 5 "$tmp/out" | tr '\n' ' ')"
	finish
fi
id1=$(tail -n 1 "$tmp/out")
pm inspect "c1-$sfx" >"$tmp/c1.json" 2>&1
sandboxes+=("$(jq -r '.[0].NetworkSettings.SandboxKey // empty' "$tmp/c1.json")")
conmons+=("$(jq -r '.[0].State.ConmonPid // empty' "$tmp/c1.json")")
a1=$(jq -r --arg n "$net" '.[0].NetworkSettings.Networks[$n].IPAddress // empty' "$tmp/c1.json")
if in_pool "$a1" && pm exec "c1-$sfx" ip -4 -o addr show eth0 | grep -q "inet $a1/26 "; then
	ok "address: the container has $a1/26 from the pool on eth0"
else
	bad "address: podman says '$a1', eth0 has '$(pm exec "c1-$sfx" ip -4 -o addr show eth0 2>&1)'"
fi
"$ctl" -o json ipam show --ip "${a1:-0.0.0.0}" >"$tmp/show1" 2>&1
if [ "$(jq -r '"\(.assigned) \(.handle) \(.node)"' "$tmp/show1")" = "true $net.$id1.eth0 podman-node" ]; then
	ok "address: blockipam holds $a1 for $net.${id1:0:12}….eth0 on podman-node"
else
	bad "address: blockipam's record of $a1: $(tr -d '\n' <"$tmp/show1")"
fi

# A second container (run --rm) pings the first and prints its own address.
if pm run --rm --name "c2-$sfx" "${ulimits[@]}" --cgroup-parent "/$cgparent" --network "$net" \
	"$image" /bin/sh -c "ip -4 -o addr show eth0; ping -c 2 -W 2 $a1" >"$tmp/c2.out" 2>&1; then
	a2=$(grep -oE 'inet [0-9.]+' "$tmp/c2.out" | head -n 1 | cut -d' ' -f2)
	if in_pool "$a2" && [ "$a2" != "$a1" ]; then
		ok "reach: a second container ($a2) pings the first ($a1)"
	else
		bad "reach: the second container's address is '$a2'"
	fi
else
	a2=$(grep -oE 'inet [0-9.]+' "$tmp/c2.out" | head -n 1 | cut -d' ' -f2)
	bad "reach: the second container cannot ping $a1: $(tail -n 5 "$tmp/c2.out" | tr '\n' ' ')"
fi
if [ -n "${a2:-}" ] && "$ctl" ipam show --ip "$a2" 2>&1 | grep -qE '^Assigned +no$'; then
	ok "rm-frees: podman run --rm released $a2"
else
	bad "rm-frees: after run --rm, $a2: $("$ctl" ipam show --ip "${a2:-0.0.0.0}" 2>&1 | grep -E 'Assigned|Handle' | tr '\n' ' ')"
fi

# podman rm: CNI DEL through bridge, blockipam releases the address.
if pm rm -f -t 0 "c1-$sfx" >"$tmp/out" 2>&1; then
	if "$ctl" ipam show --ip "$a1" 2>&1 | grep -qE '^Assigned +no$'; then
		ok "rm-frees: podman rm released $a1"
	else
		bad "rm-frees: after podman rm, $a1 is still held: $("$ctl" ipam show --ip "$a1" 2>&1 | tr '\n' ' ')"
	fi
else
	bad "rm-frees: podman rm fails: $(tail -n 3 "$tmp/out" | tr '\n' ' ')"
fi
used=$("$ctl" -o json ipam show | jq '[.[].used] | add')
handles=$(sqlite3 "$tmp/ipam.db" "select count(*) from kv where key like '%handles/%'" 2>/dev/null || echo "?")
if "$ctl" ipam check >"$tmp/out" 2>&1 && [ "$used" = 0 ] && [ "$handles" = 0 ]; then
	ok "rm-frees: ipam check finds nothing, no address in use, no handle in the store"
else
	bad "rm-frees: ipam check: $(tr '\n' ' ' <"$tmp/out"); $used in use, $handles handles"
fi
left=$(pm ps -a -q | wc -l)
[ "$left" = 0 ] && ok "rm-frees: no container left" || bad "rm-frees: $left containers left"

echo "# podman test took $((($(date +%s%N) - start) / 1000000)) ms"
finish
