#!/usr/bin/env bash
# bench/client.sh — DHCPv4 client start-up time, memory and size (issue 5).
#
# For each client (udhcp = our `udhcp udhcpc`, BusyBox udhcpc, ISC dhclient,
# dhcpcd with its defaults and with ARP probing off), BENCH_RUNS times
# against one local dnsmasq: the time from exec of the client to the call of
# its script with `bound` (min / median / max), and its peak RSS (VmHWM)
# while bound. Cold runs start without any remembered lease; the `-warm`
# variants (udhcp-warm, dhcpcd-warm, dhcpcd-noarp-warm) keep their lease state between runs
# (one unmeasured priming run first), so each measured run is a boot with a
# remembered lease: INIT-REBOOT. The script events seen are printed, so a
# warm run that was not one shows. Then the size of our stripped release
# binary, of a static musl build if that target is installed, and of the
# peers' binaries.
# Prints exactly what was measured; see bench/README.md.
#
# Root only. Everything runs in two namespaces this script creates
# (udhcpb-<pid>-srv with dnsmasq on 10.99.0.1/24, udhcpb-<pid>-cli with an
# unconfigured eth0; one veth pair) and deletes on exit, also on failure or
# Ctrl-C. Every state file is in a temp dir removed on exit; dhcpcd's
# compiled-in state dirs are bind-mounted from it, in the private mount
# namespace of `ip netns exec`. Only processes started here are signalled,
# by PID.
#
# Knobs (environment):
#   UDHCP_BIN       our binary (default: target/release/udhcp)
#   BENCH_CLIENTS   clients to run (default: "udhcp udhcp-warm busybox dhclient dhcpcd
#                   dhcpcd-warm dhcpcd-noarp dhcpcd-noarp-warm")
#   BENCH_RUNS      runs per client (default 20)
#   BENCH_TIMEOUT   seconds to wait for `bound` per run (default 30)
#   BENCH_MUSL=0    do not build the static musl binary even if the target exists
#   BENCH_QUICK=1   smoke run: 3 runs per client, no musl build
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_RUNS:=3}" "${BENCH_MUSL:=0}"
fi
CLIENTS=${BENCH_CLIENTS:-udhcp udhcp-warm busybox dhclient dhcpcd dhcpcd-warm dhcpcd-noarp dhcpcd-noarp-warm}
RUNS=${BENCH_RUNS:-20}
TIMEOUT=${BENCH_TIMEOUT:-30}
MUSL=${BENCH_MUSL:-1}
UDHCP_BIN=${UDHCP_BIN:-$repo/target/release/udhcp}
MUSL_TARGET=x86_64-unknown-linux-musl

die() {
	echo "client.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
export PATH="$PATH:/usr/sbin:/sbin"
for t in ip busybox dnsmasq dhclient dhcpcd awk bash; do
	command -v "$t" >/dev/null || die "missing $t"
done

NS_SRV="udhcpb-$$-srv"
NS_CLI="udhcpb-$$-cli"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/udhcp-cbench.XXXXXX")
SRV_PID=
CLI_PID=

# stop PID: SIGTERM, SIGKILL after 5 s, reap. Only our own children.
stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	set +e
	stop "$CLI_PID"
	stop "$SRV_PID"
	ip netns del "$NS_CLI" 2>/dev/null
	ip netns del "$NS_SRV" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the lab ----------------------------------------------------------------
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip -n "$NS_SRV" link add eth0 type veth peer name eth0 netns "$NS_CLI"
ip -n "$NS_SRV" addr add 10.99.0.1/24 dev eth0
for ns in "$NS_SRV" "$NS_CLI"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
done

mkdir -p "$TMP/dnsmasq"
ip netns exec "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
	--port=0 --interface=eth0 --bind-interfaces --no-ping --dhcp-authoritative \
	--dhcp-leasefile="$TMP/dnsmasq/leases" --pid-file="$TMP/dnsmasq/pid" \
	--dhcp-range=10.99.0.100,10.99.0.200,255.255.255.0,3600 \
	--dhcp-option=3,10.99.0.1 --dhcp-option=6,10.99.0.1 >"$TMP/dnsmasq/log" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do
	ip netns exec "$NS_SRV" ss -Hulpn | grep -q "pid=$SRV_PID," && break
	kill -0 "$SRV_PID" 2>/dev/null || {
		cat "$TMP/dnsmasq/log" >&2
		die "dnsmasq did not start"
	}
	sleep 0.1
done

# The client's script: on `bound` (udhcpc: $1; dhclient, dhcpcd: $reason)
# it records the time, atomically (rename), for the waiting loop below.
# dhclient and dhcpcd give scripts an environment of their own, so the
# path is written into the script; it is removed before every run.
# shellcheck disable=SC2016 # the script's own variables
printf '%s\n' '#!/bin/sh' \
	'case "${1:-}:${reason:-}" in' \
	"bound:* | *:BOUND | *:REBOOT) echo \"\${1:-}\${reason:-}\" >'$TMP/reason'; date +%s.%N >'$TMP/bound.tmp' && mv '$TMP/bound.tmp' '$TMP/bound' ;;" \
	'esac' 'exit 0' >"$TMP/record.sh"
chmod 755 "$TMP/record.sh"
: >"$TMP/dhclient.conf"

# argv of client NAME for a run in $BENCH_RUN.
client_argv() {
	local s=$TMP/record.sh r=$BENCH_RUN
	case $1 in
	udhcp) ARGV=("$UDHCP_BIN" udhcpc -f -i eth0 -s "$s" --lease-file '') ;;
	udhcp-warm) ARGV=("$UDHCP_BIN" udhcpc -f -i eth0 -s "$s" --lease-file "$TMP/warm/eth0.lease") ;;
	busybox) ARGV=(busybox udhcpc -f -i eth0 -s "$s") ;;
	dhclient) ARGV=(dhclient -4 -d -cf "$TMP/dhclient.conf" -sf "$s" -lf "$r/dhclient.leases"
		-pf "$r/dhclient.pid" eth0) ;;
	dhcpcd) ARGV=(dhcpcd -B -4 -f /dev/null -c "$s" -o domain_name_servers eth0) ;;
	# With its lease file kept, dhcpcd logs "rebinding lease of …" (its
	# INIT-REBOOT), probes the address unless -A, and calls the script with
	# BOUND.
	dhcpcd-warm) ARGV=(dhcpcd -B -4 -f /dev/null -c "$s" -o domain_name_servers eth0) ;;
	dhcpcd-noarp-warm) ARGV=(dhcpcd -B -4 -A -f /dev/null -c "$s" -o domain_name_servers eth0) ;;
	dhcpcd-noarp) ARGV=(dhcpcd -B -4 -A -f /dev/null -c "$s" -o domain_name_servers eth0) ;;
	*) die "unknown client $1" ;;
	esac
}

# In the client namespace: bind dhcpcd's state dirs (if asked), take the
# start time with a shell builtin (no fork), exec the client.
# shellcheck disable=SC2016 # expanded by the inner bash
WRAP='set -e
if [ -n "${BENCH_MNT:-}" ]; then
	[ -d /var/lib/dhcpcd ] || { echo "no /var/lib/dhcpcd" >&2; exit 97; }
	mount --bind "$BENCH_DB" /var/lib/dhcpcd
	mount --bind "$BENCH_RUN/run" /run
fi
printf "%s\n" "$EPOCHREALTIME" >"$BENCH_RUN/start"
exec "$@"'

# Sum of VmHWM over PID and its descendants (dhcpcd's privsep helpers).
tree_hwm() {
	local p
	for p in $(ps -e -o pid=,ppid= | awk -v root="$1" '
		{ par[$1] = $2 }
		END {
			in_tree[root] = 1
			do {
				grew = 0
				for (p in par) if (!(p in in_tree) && (par[p] in in_tree)) { in_tree[p] = 1; grew = 1 }
			} while (grew)
			for (p in in_tree) print p
		}'); do
		awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true
	done | awk '{ s += $1 } END { print s + 0 }'
}

declare -A RESULT
for name in $CLIENTS; do
	if [ "$name" = udhcp ] && [ ! -x "$UDHCP_BIN" ]; then
		RESULT[$name]="n/a ($UDHCP_BIN not built: cargo build --release)"
		continue
	fi
	times=() hwm=() tree=() reasons=() status=ok
	# Warm variants: a priming run 0 (not measured) leaves the lease state
	# that every measured run then starts from.
	first=1
	case $name in *-warm)
		first=0
		rm -rf "$TMP/warm"
		mkdir -p "$TMP/warm/db"
		;;
	esac
	for i in $(seq "$first" "$RUNS"); do
		export BENCH_RUN=$TMP/run-$name-$i
		mkdir -p "$BENCH_RUN/db" "$BENCH_RUN/run"
		export BENCH_DB=$BENCH_RUN/db
		case $name in *-warm) BENCH_DB=$TMP/warm/db ;; esac
		rm -f "$TMP/bound"
		BENCH_MNT=
		case $name in dhcpcd*) BENCH_MNT=1 ;; esac
		export BENCH_MNT
		# Every run starts unconfigured (dhcpcd configures the address).
		ip -n "$NS_CLI" addr flush dev eth0
		client_argv "$name"
		ip netns exec "$NS_CLI" bash -c "$WRAP" bench "${ARGV[@]}" >"$BENCH_RUN/log" 2>&1 &
		CLI_PID=$!
		t0=$SECONDS
		while [ ! -e "$TMP/bound" ]; do
			if ! kill -0 "$CLI_PID" 2>/dev/null; then
				wait "$CLI_PID" 2>/dev/null || true
				CLI_PID=
				status="error: exited before bound (run $i)"
				sed 's/^/  /' "$BENCH_RUN/log" >&2
				break
			fi
			if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then
				status="error: no bound within $TIMEOUT s (run $i)"
				break
			fi
			sleep 0.01
		done
		[ "$status" = ok ] || break
		sleep 0.2 # settle: RSS while bound, not while running the script
		hwm+=("$(awk '/^VmHWM:/ { print $2 }' "/proc/$CLI_PID/status")")
		tree+=("$(tree_hwm "$CLI_PID")")
		stop "$CLI_PID"
		CLI_PID=
		if [ "$i" -gt 0 ]; then
			reasons+=("$(cat "$TMP/reason" 2>/dev/null || echo '?')")
			times+=("$(awk '{ getline b < ARGV[2]; printf "%.1f\n", (b - $1) * 1000; exit }' \
				"$BENCH_RUN/start" "$TMP/bound")")
		fi
		rm -rf "$BENCH_RUN"
	done
	stop "$CLI_PID"
	CLI_PID=
	if [ "$status" != ok ]; then
		RESULT[$name]=$status
		continue
	fi
	RESULT[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk -v hwm="$(printf '%s\n' "${hwm[@]}" | sort -n | tail -1)" \
		-v tree="$(printf '%s\n' "${tree[@]}" | sort -n | tail -1)" '
		{ v[NR] = $1 }
		END {
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%9.1f %9.1f %9.1f %10s %12s", v[1], med, v[NR], hwm, tree
		}')
	echo "  $name: ${times[*]} ms (script called with: $(printf '%s\n' "${reasons[@]}" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'))" >&2
done

echo
echo "DHCPv4 client bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)): exec → \`bound\` against local dnsmasq $(dnsmasq --version | awk 'NR == 1 { print $3 }'), $RUNS runs"
printf '%-17s %9s %9s %9s %10s %12s\n' client "min ms" "median ms" "max ms" "VmHWM KiB" "+forked KiB"
for name in $CLIENTS; do
	printf '%-17s %s\n' "$name" "${RESULT[$name]}"
done
echo "(VmHWM: the client process, highest over the runs, while bound; +forked: the same summed with the processes it forked, e.g. dhcpcd's privsep helpers)"

# --- sizes ------------------------------------------------------------------
echo
echo "Binary sizes (bytes)"
size_of() { stat -L -c %s "$1" 2>/dev/null || echo n/a; }
if [ -x "$UDHCP_BIN" ]; then
	stripped=$TMP/udhcp.stripped
	if command -v strip >/dev/null && strip -o "$stripped" "$UDHCP_BIN" 2>/dev/null; then
		printf '%-34s %10s\n' "udhcp ($(basename "$(dirname "$UDHCP_BIN")"), stripped)" "$(size_of "$stripped")"
	else
		printf '%-34s %10s\n' "udhcp (as built)" "$(size_of "$UDHCP_BIN")"
	fi
else
	printf '%-34s %10s\n' "udhcp (release, stripped)" "n/a (not built)"
fi
if [ "$MUSL" = 1 ] && command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$MUSL_TARGET"; then
	mt=${CARGO_TARGET_DIR:-$repo/target}
	if (cd "$repo" && cargo build --quiet --release --target "$MUSL_TARGET") >&2; then
		printf '%-34s %10s\n' "udhcp (static musl, stripped)" "$(size_of "$mt/$MUSL_TARGET/release/udhcp")"
	else
		printf '%-34s %10s\n' "udhcp (static musl)" "n/a (build failed)"
	fi
else
	printf '%-34s %10s\n' "udhcp (static musl)" "n/a ($MUSL_TARGET not installed or BENCH_MUSL=0)"
fi
# The build for a board (static musl, std rebuilt for size): see
# scripts/build-embedded.sh. Target: <= 600 KiB.
if [ "$MUSL" = 1 ]; then
	if (cd "$repo" && scripts/build-embedded.sh) >&2; then
		e=$repo/target/embedded/udhcp
		printf '%-34s %10s  (%s KiB; target <= 600 KiB)\n' "udhcp (embedded: static musl, build-std)" \
			"$(size_of "$e")" "$(awk -v b="$(size_of "$e")" 'BEGIN { printf "%.1f", b / 1024 }')"
	else
		printf '%-34s %10s\n' "udhcp (embedded build)" "n/a (build failed)"
	fi
fi
for b in busybox dhclient dhcpcd; do
	p=$(command -v "$b")
	printf '%-34s %10s\n' "$b ($p, whole binary)" "$(size_of "$p")"
done
