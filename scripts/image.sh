#!/bin/sh
# Stage the root filesystem of the blockipam image in DIR/rootfs and copy deploy/Containerfile to
# DIR, for `podman build DIR` (make image). Nothing is downloaded: the binaries of BUILD, the
# libraries they load (found with ldd, and OpenSSL 3, which the etcd client loads with dlopen),
# kubectl ($KUBECTL, default the one on $PATH) and a static busybox (/bin/busybox, Debian's
# busybox-static) all come from this machine.
#
#   scripts/image.sh BUILD DIR
set -eu
build=${1:?usage: image.sh BUILD DIR}
dir=${2:?usage: image.sh BUILD DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
kubectl=$(command -v "${KUBECTL:-kubectl}" || true)
[ -x "$build/blockipamctl" ] && [ -x "$build/blockipam" ] || { echo "image.sh: build $build first" >&2; exit 1; }
[ -n "$kubectl" ] || { echo "image.sh: kubectl is not installed (scripts/deps.sh test)" >&2; exit 1; }
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	echo "image.sh: /bin/busybox is missing or not static (apt-get install busybox-static)" >&2
	exit 1
fi
r=$dir/rootfs
rm -rf "$r"
mkdir -p "$r/usr/bin" "$r/bin" "$r/opt/cni/bin" "$r/usr/share/blockipam" "$r/etc" "$r/tmp" \
	"$r/var/lib/blockipam" "$r/run/blockipam"
chmod 1777 "$r/tmp"
install -m 0755 "$build/blockipamctl" "$r/usr/bin/blockipamctl"
install -m 0755 "$build/blockipam" "$r/opt/cni/bin/blockipam"
install -m 0755 "$(readlink -f "$kubectl")" "$r/usr/bin/kubectl"
install -m 0755 "$root/deploy/kubernetes/install-cni.sh" "$r/usr/share/blockipam/install-cni.sh"
install -m 0755 /bin/busybox "$r/bin/busybox"
for c in sh cat cmp cp mv mkdir rm sed sleep chmod ls test printf; do ln -sf busybox "$r/bin/$c"; done
strip "$r/usr/bin/blockipamctl" "$r/opt/cni/bin/blockipam" 2>/dev/null || true
# the shared libraries, at the paths the dynamic loader looks in
libs=$( { ldd "$build/blockipamctl"; ldd "$build/blockipam"; } | awk '/=> \//{print $3} /^\t\//{print $1}')
for l in $libs $(ldconfig -p | awk '/libssl.so.3 |libcrypto.so.3 /{print $NF}'); do
	mkdir -p "$r$(dirname "$l")"
	cp -L "$l" "$r$l"
done
if [ -d "$r/lib/x86_64-linux-gnu" ] && [ ! -e "$r/lib64" ] && [ -e /lib64 ]; then
	mkdir -p "$r/lib64"
	for l in /lib64/ld-linux*; do cp -L "$l" "$r$l"; done
fi
printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$r/etc/passwd"
cp "$root/deploy/Containerfile" "$dir/Containerfile"
echo "image.sh: $(du -sh "$r" | cut -f1) staged in $r"
