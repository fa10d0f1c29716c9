#!/bin/sh
# Install the Debian packages blockipam needs to build (and, with "test", to test), when they
# are missing. Runs apt-get as root, or through sudo.
set -e
# libc6-dev, libssl-dev, libsqlite3-dev, libjansson-dev: their .a files link the static plugin
# (gcc only recommends libc6-dev, and --no-install-recommends below skips recommendations).
# iproute2, iputils-ping, containernetworking-plugins: the demo's packet between two pods.
need="gcc make pkg-config libc6-dev libsqlite3-dev libjansson-dev libyaml-dev libssl-dev sqlite3 \
iproute2 iputils-ping containernetworking-plugins"
if [ "${1:-}" = test ] || [ "${1:-}" = bench ]; then
	need="$need clang libclang-rt-14-dev etcd-server etcd-client containernetworking-plugins \
iproute2 iputils-ping bird2 valgrind binutils openssl jq procps util-linux \
podman runc busybox-static conmon catatonit clang-format cppcheck chromium libxml2-utils \
prometheus python3 python3-yaml faketime iptables zsh"
	# kubectl: Debian's kubernetes-client, unless a kubectl (another package's) is there already
	command -v kubectl >/dev/null 2>&1 || need="$need kubernetes-client"
fi
if [ "${1:-}" = bench ]; then
	need="$need hyperfine"
fi
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps Debian's etcd unit from starting a system-wide server: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing
