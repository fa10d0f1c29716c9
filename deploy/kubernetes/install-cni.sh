#!/bin/sh
# The blockipam DaemonSet's install step, on every node (the image runs it with busybox):
#   - copies the plugin to the host's CNI bin directory (atomically: a runtime may exec it now);
#   - copies the etcd client certificates (the Secret, when mounted) next to the CNI config, 0600;
#   - writes the conflist from the ConfigMap's template, filling in __STORE__ (the store
#     address), __NODE__ (this node's Kubernetes name) and __TLS__ (the certificate fields, or
#     nothing for a store without TLS). The template declares cniVersion 1.1.0: runtimes send
#     STATUS and GC only to such a config.
# Then, unless INSTALL_ONCE=1, it stays and installs again every minute what changed (a rotated
# Secret, an edited ConfigMap, a new image's plugin).
#
# Environment: BLOCKIPAM_STORE, NODE_NAME, CNI_BIN_DIR (/host/opt/cni/bin), CNI_NET_DIR
# (/host/etc/cni/net.d), HOST_CNI_NET_DIR (the same directory as the host sees it: /etc/cni/net.d),
# TEMPLATE (/etc/blockipam/cni/10-blockipam.conflist), CERT_DIR (/etc/blockipam/etcd: ca.pem,
# cert.pem, key.pem), CONFLIST_NAME (10-blockipam.conflist), PLUGIN (the binary to install).
set -eu
: "${BLOCKIPAM_STORE:?set BLOCKIPAM_STORE (the blockipam-config ConfigMap)}"
: "${NODE_NAME:?set NODE_NAME (the downward API: spec.nodeName)}"
bin=${CNI_BIN_DIR:-/host/opt/cni/bin}
net=${CNI_NET_DIR:-/host/etc/cni/net.d}
hostnet=${HOST_CNI_NET_DIR:-/etc/cni/net.d}
template=${TEMPLATE:-/etc/blockipam/cni/10-blockipam.conflist}
certs=${CERT_DIR:-/etc/blockipam/etcd}
name=${CONFLIST_NAME:-10-blockipam.conflist}
plugin=${PLUGIN:-/opt/cni/bin/blockipam}

case "$BLOCKIPAM_STORE$NODE_NAME" in
*[\|\&\\\"]*) echo "install-cni: BLOCKIPAM_STORE or NODE_NAME holds one of | & \\ \"" >&2; exit 1 ;;
esac

# put SRC DST MODE: replace DST by SRC when they differ, through a temporary file and a rename
put() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then return 1; fi
	cp "$1" "$2.tmp.$$"
	chmod "$3" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
	echo "install-cni: installed $2"
}

install_once() {
	mkdir -p "$bin" "$net"
	put "$plugin" "$bin/blockipam" 0755 || true
	tls=""
	if [ -f "$certs/ca.pem" ]; then
		mkdir -p "$net/blockipam-tls"
		chmod 0700 "$net/blockipam-tls"
		for f in ca.pem cert.pem key.pem; do
			[ -f "$certs/$f" ] && { put "$certs/$f" "$net/blockipam-tls/$f" 0600 || true; }
		done
		d=$hostnet/blockipam-tls
		tls=", \"store_ca_file\": \"$d/ca.pem\""
		[ -f "$certs/cert.pem" ] && tls="$tls, \"store_cert_file\": \"$d/cert.pem\", \"store_key_file\": \"$d/key.pem\""
	fi
	sed -e "s|__STORE__|$BLOCKIPAM_STORE|g" -e "s|__NODE__|$NODE_NAME|g" -e "s|__TLS__|$tls|g" \
		"$template" >"/tmp/$name"
	put "/tmp/$name" "$net/$name" 0644 || true
	rm -f "/tmp/$name"
}

install_once
[ "${INSTALL_ONCE:-0}" = 1 ] && exit 0
while sleep 60; do install_once; done
