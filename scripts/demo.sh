#!/bin/sh
# The README's "main job": a server and a client network namespace joined
# by a veth pair; our udhcpd serves a small range, our udhcpc with
# default.script obtains a lease in the client namespace; then the client's
# address, routes and resolv.conf and the server's `dumpleases`.
#
#   scripts/demo.sh            (root; builds target/release/udhcp if needed)
#   UDHCP_BIN=/path/udhcp scripts/demo.sh
#
# Everything happens inside the two namespaces it creates (udhcpt-demo-PID-*),
# which are deleted on exit, also on failure or Ctrl-C; nothing touches the
# host's interfaces or /etc/resolv.conf (RESOLV_CONF points into a temp dir).
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (network namespaces)" >&2
	exit 1
fi
command -v ip >/dev/null 2>&1 || {
	echo "demo: needs iproute2 (ip)" >&2
	exit 1
}

# --- the binary -------------------------------------------------------------
if [ -z "${UDHCP_BIN:-}" ]; then
	target=${CARGO_TARGET_DIR:-$ROOT/target}
	if [ -x "$target/release/udhcp" ]; then
		UDHCP_BIN=$target/release/udhcp
	elif [ -x "$target/debug/udhcp" ]; then
		UDHCP_BIN=$target/debug/udhcp
	else
		echo "demo: building udhcp (cargo build --release)" >&2
		cargo build --release --quiet
		UDHCP_BIN=$target/release/udhcp
	fi
fi
[ -x "$UDHCP_BIN" ] || {
	echo "demo: $UDHCP_BIN is not executable" >&2
	exit 1
}

# --- lab and cleanup --------------------------------------------------------
SRV=udhcpt-demo-$$-srv
CLI=udhcpt-demo-$$-cli
TMP=$(mktemp -d "${TMPDIR:-/tmp}/udhcp-demo.XXXXXX")
chmod 755 "$TMP"
SERVER_PID=''

cleanup() {
	status=$?
	trap - EXIT INT TERM HUP
	if [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; then
		# The daemon is not our child: wait (bounded) until it is gone.
		n=0
		while [ $n -lt 50 ] && kill -0 "$SERVER_PID" 2>/dev/null; do
			sleep 0.1
			n=$((n + 1))
		done
	fi
	ip netns del "$CLI" 2>/dev/null || true
	ip netns del "$SRV" 2>/dev/null || true
	rm -rf "$TMP"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# `scripts/demo.sh | head` must not leave namespaces behind either.
trap 'exit 141' PIPE

ip netns add "$SRV"
ip netns add "$CLI"
ip -n "$SRV" link add eth0 type veth peer name eth0 netns "$CLI"
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ip -n "$SRV" addr add 10.123.0.1/24 dev eth0
ip -n "$SRV" link set eth0 up
ip -n "$CLI" link set eth0 up

# --- server -----------------------------------------------------------------
cat >"$TMP/udhcpd.conf" <<EOF
interface eth0
start 10.123.0.100
end 10.123.0.150
max_leases 51
lease_file $TMP/udhcpd.leases
pidfile $TMP/udhcpd.pid
opt subnet 255.255.255.0
opt router 10.123.0.1
opt dns 10.123.0.1 10.123.0.2
opt domain demo.lan
opt mtu 1400
opt lease 600
EOF

# Without -f, udhcpd goes to the background and its parent exits only once
# the daemon is ready (config valid, leases loaded, sockets open), or with
# the daemon's error: no sleep, no guessing.
echo "== server ($SRV): udhcpd $TMP/udhcpd.conf"
ip netns exec "$SRV" "$UDHCP_BIN" udhcpd "$TMP/udhcpd.conf"
SERVER_PID=$(cat "$TMP/udhcpd.pid")

# --- client -----------------------------------------------------------------
cp "$ROOT/default.script" "$TMP/default.script"
chmod 755 "$TMP/default.script"
: >"$TMP/resolv.conf"
echo "== client ($CLI): udhcpc -f -q -n -i eth0 -s default.script"
# The namespace shares the host's filesystem: the lease memory goes to the
# temp dir, not the host's /var/lib/udhcpc/eth0.lease.
status=0
ip netns exec "$CLI" env RESOLV_CONF="$TMP/resolv.conf" \
	"$UDHCP_BIN" udhcpc -f -q -n -t 5 -T 2 -i eth0 -s "$TMP/default.script" \
	--lease-file "$TMP/eth0.lease" || status=$?
if [ "$status" != 0 ]; then
	echo "demo: udhcpc failed (exit $status)" >&2
	exit 1
fi

echo
echo "== client: ip -4 addr show dev eth0"
ip -n "$CLI" -4 addr show dev eth0
echo "== client: ip -4 route"
ip -n "$CLI" -4 route
echo "== client: ip link (mtu)"
ip -n "$CLI" link show dev eth0 | head -1
echo "== client: resolv.conf ($TMP/resolv.conf)"
cat "$TMP/resolv.conf"

# Our dumpleases reads the lease file and the journal every ACK went to
# before it was sent, so it is current without waiting for a rewrite.
echo "== server: dumpleases -f $TMP/udhcpd.leases"
ip netns exec "$SRV" "$UDHCP_BIN" dumpleases -f "$TMP/udhcpd.leases"
echo
echo "demo: ok (namespaces $SRV and $CLI are removed now)"
