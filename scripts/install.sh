#!/bin/sh
# Staging install into a root filesystem tree, for a Buildroot or Yocto
# recipe (or by hand). Runs nothing from the binary, which may be built for
# another CPU.
#
#   scripts/install.sh DESTDIR [BINARY]
#
# BINARY defaults to target/embedded/udhcp (scripts/build-embedded.sh).
# Under DESTDIR it installs:
#
#   /usr/bin/udhcp                      the multi-call binary (0755)
#   /sbin/udhcpc  /usr/sbin/udhcpd  /usr/bin/dumpleases  /usr/sbin/dhcprelay
#   /usr/bin/udhcpc6
#                                       symlinks to /usr/bin/udhcp, where
#                                       BusyBox puts these applets
#   /usr/share/udhcpc/default.script    udhcpc's default script (0755)
#   /usr/share/udhcpc/default6.script   udhcpc6's default script (0755)
#   /usr/share/udhcpc/default.script.d/ its hook directory
#   /etc/udhcpd.conf                    examples/udhcpd.conf, every keyword
#                                       commented, only if none exists
#
# The links are absolute, so they stay right on a merged-/usr root where
# /sbin is a link to usr/sbin. Existing applet links (BusyBox's) are
# replaced; an existing /etc/udhcpd.conf is kept. Running it twice gives
# the same tree.
set -eu

usage() {
	echo "usage: $0 DESTDIR [BINARY]" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
[ -n "$1" ] || usage
DESTDIR=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BINARY=${2:-$ROOT/target/embedded/udhcp}
if [ ! -f "$BINARY" ]; then
	echo "install: $BINARY: no such file (build it: scripts/build-embedded.sh)" >&2
	exit 1
fi

# name:directory, as `udhcp --list-full` prints them (tests/install.rs
# checks the two agree).
APPLETS="udhcpc:/sbin udhcpd:/usr/sbin dumpleases:/usr/bin dhcprelay:/usr/sbin udhcpc6:/usr/bin"

mkdir -p "$DESTDIR/usr/bin"
# Copy to a temporary name and rename: a running binary is never
# overwritten in place ("text file busy").
cp "$BINARY" "$DESTDIR/usr/bin/.udhcp.new"
chmod 0755 "$DESTDIR/usr/bin/.udhcp.new"
mv -f "$DESTDIR/usr/bin/.udhcp.new" "$DESTDIR/usr/bin/udhcp"

for entry in $APPLETS; do
	name=${entry%%:*}
	dir=${entry#*:}
	mkdir -p "$DESTDIR$dir"
	ln -sfn /usr/bin/udhcp "$DESTDIR$dir/$name"
done

mkdir -p "$DESTDIR/usr/share/udhcpc/default.script.d"
cp "$ROOT/default.script" "$DESTDIR/usr/share/udhcpc/default.script"
chmod 0755 "$DESTDIR/usr/share/udhcpc/default.script"
cp "$ROOT/default6.script" "$DESTDIR/usr/share/udhcpc/default6.script"
chmod 0755 "$DESTDIR/usr/share/udhcpc/default6.script"

if [ ! -e "$DESTDIR/etc/udhcpd.conf" ]; then
	mkdir -p "$DESTDIR/etc"
	cp "$ROOT/examples/udhcpd.conf" "$DESTDIR/etc/udhcpd.conf"
	chmod 0644 "$DESTDIR/etc/udhcpd.conf"
fi
echo "install: udhcp installed under $DESTDIR"
