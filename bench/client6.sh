#!/bin/bash
# udhcpc6 exec -> `bound` time against dnsmasq (DHCPv6 with Rapid Commit:
# Solicit/Reply) and kea-dhcp6 (Solicit/Advertise/Request/Reply), BENCH_RUNS
# times each. Not a test: prints the times. Root; everything runs in two
# namespaces `udhcpt-PID-s` / `udhcpt-PID-c` joined by veth, removed on exit.
#
#   UDHCP_BIN    binary (default target/embedded/udhcp, else target/release/udhcp)
#   BENCH_RUNS   runs per server (default 5)
#
# DAD and RAs are off in both namespaces so the link-local address is
# usable at once. The time is taken before `ip netns exec` and by the
# script at `bound` (`date +%s%N`), so it includes one fork+exec of ip(8).
# No dhcpcd/odhcp6c column yet: dhcpcd needs a Router Advertisement or
# forced IA options and its own state dirs to run DHCPv6 fairly.
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${UDHCP_BIN:-target/embedded/udhcp}
[ -x "$BIN" ] || BIN=target/release/udhcp
[ -x "$BIN" ] || { echo "build first: scripts/build-embedded.sh" >&2; exit 1; }
BIN=$(realpath "$BIN")
RUNS=${BENCH_RUNS:-5}
S=udhcpt-$$-s
C=udhcpt-$$-c
D=$(mktemp -d)
SRVPID=
cleanup() {
	if [ -n "$SRVPID" ]; then
		kill "$SRVPID" 2>/dev/null
		wait "$SRVPID" 2>/dev/null
	fi
	ip netns del "$S" 2>/dev/null
	ip netns del "$C" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$S"
ip netns add "$C"
ip link add eth0 netns "$S" type veth peer name eth0 netns "$C"
for n in "$S" "$C"; do
	ip netns exec "$n" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad &&
		echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_ra'
	ip -n "$n" link set lo up
	ip -n "$n" link set eth0 up
done
ip -n "$S" -6 addr add 2001:db8:1::1/64 dev eth0 nodad

# shellcheck disable=SC2016 # the script's own variables
printf '%s\n' '#!/bin/sh' '[ "$1" = bound ] && date +%s%N >"$OUT"' 'exit 0' >"$D/s.sh"
chmod 755 "$D/s.sh"

wait_547() {
	for _ in $(seq 100); do
		ip netns exec "$S" ss -Hul6n | grep -q ':547 ' && return 0
		sleep 0.1
	done
	echo "server did not start" >&2
	exit 1
}

run() {
	for i in $(seq "$RUNS"); do
		rm -f "$D/t"
		ip -n "$C" -6 addr flush dev eth0 scope global
		t0=$(date +%s%N)
		OUT=$D/t ip netns exec "$C" "$BIN" udhcpc6 -f -q -i eth0 -s "$D/s.sh" >/dev/null 2>&1
		if [ -s "$D/t" ]; then
			echo "$1 run $i: $((($(cat "$D/t") - t0) / 1000000)) ms"
		else
			echo "$1 run $i: no bound"
		fi
	done
}

ip netns exec "$S" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
	--port=0 --interface=eth0 --bind-interfaces \
	--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,300 \
	--dhcp-leasefile="$D/leases" --pid-file="$D/pid" >/dev/null 2>&1 &
SRVPID=$!
wait_547
run "dnsmasq (rapid commit)"
kill "$SRVPID"
wait "$SRVPID" 2>/dev/null
SRVPID=

cat >"$D/kea.json" <<X
{ "Dhcp6": { "interfaces-config": { "interfaces": ["eth0"] },
  "server-id": { "type": "EN", "enterprise-id": 2495, "identifier": "0a0b", "persist": false },
  "lease-database": { "type": "memfile", "persist": false },
  "subnet6": [ { "id": 1, "subnet": "2001:db8:1::/64", "interface": "eth0",
    "pools": [ { "pool": "2001:db8:1::100-2001:db8:1::1ff" } ] } ] } }
X
KEA_PIDFILE_DIR=$D KEA_LOCKFILE_DIR=$D ip netns exec "$S" kea-dhcp6 -c "$D/kea.json" >/dev/null 2>&1 &
SRVPID=$!
wait_547
run "kea-dhcp6 (4 messages)"
echo "binary: $BIN, $(stat -L -c %s "$BIN") bytes"
