#!/usr/bin/env bash
# bench/server.sh — DHCPv4 server throughput and memory, against real peers.
#
# For each server (udhcp = our `udhcp udhcpd`; udhcp-r = the same fed relayed
# traffic: perfdhcp sends to the server's address as a relay agent, giaddr
# 10.99.0.2, with a link-selection sub-option (RFC 3527) naming 10.51.0.1,
# which a one-network server ignores; udhcp3 = udhcp-r's traffic to a server
# with three networks — the local one and two relayed ones —, served by the
# relayed network 10.51.0.0/16; BusyBox udhcpd, dnsmasq, Kea memfile) and
# each client count, finds the highest four-way (DORA)
# exchange rate perfdhcp sustains with < BENCH_LOSS % of exchanges lost,
# and the server's peak RSS (VmHWM) at that rate; prints a table and our
# ratios to each peer. See bench/README.md for method and caveats.
#
# Root only. Everything runs in two namespaces this script creates
# (udhcpb-<pid>-srv, udhcpb-<pid>-perf, one veth pair, 10.99.0.0/16) and
# deletes on exit, also on failure or Ctrl-C; every state file is in a temp
# dir removed on exit. Only processes started here are signalled, by PID.
#
# Knobs (environment):
#   UDHCP_BIN       our binary (default: target/release/udhcp)
#   BENCH_SERVERS   servers to run        (default: "udhcp udhcp-r udhcp3 busybox dnsmasq kea")
#   BENCH_PAIRS     rounds of the paired three-networks-vs-one comparison
#                   (default 4; 0: none): udhcp-r and udhcp3 alternately
#                   (ABBA) at BENCH_PAIR_RATE (default 2000/s) per client
#                   count, medians of CPU per exchange compared
#   BENCH_CLIENTS   client counts, -R     (default: "1000 50000")
#   BENCH_PERIOD    seconds per rate step (default 5; each step <= ~10 s)
#   BENCH_START     first rate tried      (default 500 exchanges/s)
#   BENCH_CAP       highest rate tried    (default 32000)
#   BENCH_FLOOR     lowest rate tried     (default 25)
#   BENCH_BISECT    bisection steps after the doubling phase (default 3)
#   BENCH_LOSS      max lost exchanges, % (default 1)
#   BENCH_BUDGET    seconds for the whole run before remaining cells are
#                   skipped (default 840)
#   BENCH_QUICK=1   smoke run: clients "1000", period 2, cap 2000, 1 bisection
#   BENCH_TMPDIR    where the temp dir (lease files) goes (default: $TMPDIR or /tmp)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_CLIENTS:=1000}" "${BENCH_PERIOD:=2}" "${BENCH_CAP:=2000}" "${BENCH_BISECT:=1}"
fi
SERVERS=${BENCH_SERVERS:-udhcp udhcp-r udhcp3 busybox dnsmasq kea}
PAIRS=${BENCH_PAIRS:-4}
PAIR_RATE=${BENCH_PAIR_RATE:-2000}
CLIENTS=${BENCH_CLIENTS:-1000 50000}
PERIOD=${BENCH_PERIOD:-5}
START=${BENCH_START:-500}
CAP=${BENCH_CAP:-32000}
FLOOR=${BENCH_FLOOR:-25}
BISECT=${BENCH_BISECT:-3}
LOSS=${BENCH_LOSS:-1}
BUDGET=${BENCH_BUDGET:-840}
UDHCP_BIN=${UDHCP_BIN:-$repo/target/release/udhcp}

# One /16: the server is 10.99.0.1, perfdhcp 10.99.0.2, the pool is the rest
# from 10.99.1.0 (65279 addresses). The same lease time everywhere, longer
# than the run.
SRV_IP=10.99.0.1
PERF_IP=10.99.0.2
POOL_START=10.99.1.0
POOL_END=10.99.255.254
POOL_SIZE=65279
LEASE=86400

die() {
	echo "server.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip ss perfdhcp busybox dnsmasq kea-dhcp4 timeout awk; do
	PATH="$PATH:/usr/sbin:/sbin" command -v "$t" >/dev/null || die "missing $t"
done
export PATH="$PATH:/usr/sbin:/sbin"

NS_SRV="udhcpb-$$-srv"
NS_PERF="udhcpb-$$-perf"
TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/udhcp-bench.XXXXXX")
SRV_PID=
PERF_PID=

cleanup() {
	set +e
	[ -n "$PERF_PID" ] && kill "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
	stop_server
	for ns in "$NS_PERF" "$NS_SRV"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
	[ -n "$SRV_PID" ] || return 0
	kill "$SRV_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=
}

# --- the lab --------------------------------------------------------------
ip netns add "$NS_SRV"
ip netns add "$NS_PERF"
ip -n "$NS_SRV" link add eth0 type veth peer name eth0 netns "$NS_PERF"
ip -n "$NS_SRV" addr add "$SRV_IP/16" dev eth0
ip -n "$NS_PERF" addr add "$PERF_IP/16" dev eth0
for ns in "$NS_SRV" "$NS_PERF"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
done

# --- server configs (all files in $TMP, on one file system) ---------------
udhcpd_conf() { # $1 = dir
	cat <<EOF
interface eth0
start $POOL_START
end $POOL_END
max_leases $POOL_SIZE
lease_file $1/udhcpd.leases
pidfile $1/udhcpd.pid
opt subnet 255.255.0.0
opt router $SRV_IP
opt dns $SRV_IP
opt lease $LEASE
EOF
	# $2 = 3: two relayed networks as well (issue 9), as large as the local
	# one; perfdhcp's link selection picks the second (10.51.0.0/16).
	if [ "${2:-1}" = 3 ]; then
		local n
		for n in 50 51; do
			cat <<EOF

network relayed$n
relay_subnet 10.$n.0.0/16
start 10.$n.1.0
end 10.$n.255.254
max_leases $POOL_SIZE
opt subnet 255.255.0.0
opt router 10.$n.0.1
opt dns $SRV_IP
opt lease $LEASE
EOF
		done
	fi
}

kea_conf() { # $1 = dir
	cat <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": ["eth0"], "dhcp-socket-type": "raw" },
  "control-socket": { "socket-type": "unix", "socket-name": "$1/kea4.sock" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$1/kea-leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": $LEASE,
  "subnet4": [ { "id": 1, "subnet": "10.99.0.0/16",
      "pools": [ { "pool": "$POOL_START - $POOL_END" } ],
      "option-data": [ { "name": "routers", "data": "$SRV_IP" },
                       { "name": "domain-name-servers", "data": "$SRV_IP" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ],
      "severity": "WARN" } ]
} }
EOF
}

# start_server NAME DIR: starts it in $NS_SRV, sets SRV_PID, waits until it
# has bound UDP 67. Returns 1 if it failed to start.
start_server() {
	local name=$1 dir=$2 log=$2/server.log
	rm -rf "$dir"
	mkdir -p "$dir"
	PERF_EXTRA=()
	PERF_TO=(-l eth0)
	case $name in
	udhcp | udhcp-r | udhcp3 | busybox)
		local nets=1
		if [ "$name" != udhcp ] && [ "$name" != busybox ]; then
			[ "$name" = udhcp3 ] && nets=3
			# As a relay agent (giaddr = perfdhcp's address), with option
			# 82 sub-option 5 (link selection) = 10.51.0.1.
			PERF_TO=(-l "$PERF_IP")
			PERF_EXTRA=(-o "82,05040a330001" "$SRV_IP")
		fi
		udhcpd_conf "$dir" "$nets" >"$dir/udhcpd.conf"
		local bin=(busybox udhcpd)
		[ "$name" != busybox ] && bin=("$UDHCP_BIN" udhcpd)
		ip netns exec "$NS_SRV" "${bin[@]}" -f -a 0 "$dir/udhcpd.conf" >"$log" 2>&1 &
		;;
	dnsmasq)
		ip netns exec "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv \
			--no-hosts --port=0 --interface=eth0 --bind-interfaces --no-ping \
			--quiet-dhcp --dhcp-authoritative --dhcp-leasefile="$dir/dnsmasq.leases" \
			--pid-file="$dir/dnsmasq.pid" \
			--dhcp-range="$POOL_START,$POOL_END,255.255.0.0,$LEASE" \
			--dhcp-lease-max="$POOL_SIZE" --dhcp-option=3,"$SRV_IP" \
			--dhcp-option=6,"$SRV_IP" >"$log" 2>&1 &
		;;
	kea)
		kea_conf "$dir" >"$dir/kea-dhcp4.json"
		KEA_PIDFILE_DIR=$dir KEA_LOCKFILE_DIR=$dir \
			ip netns exec "$NS_SRV" kea-dhcp4 -c "$dir/kea-dhcp4.json" >"$log" 2>&1 &
		;;
	*) die "unknown server $name" ;;
	esac
	SRV_PID=$!
	local i
	for i in $(seq 150); do
		if ! kill -0 "$SRV_PID" 2>/dev/null; then
			wait "$SRV_PID" 2>/dev/null || true
			SRV_PID=
			echo "server.sh: $name exited at start:" >&2
			sed 's/^/  /' "$log" >&2
			return 1
		fi
		if ip netns exec "$NS_SRV" ss -Hulpn 2>/dev/null |
			awk -v p="pid=$SRV_PID," '$4 ~ /:67$/ && index($0, p) { f = 1 } END { exit !f }'; then
			return 0
		fi
		sleep 0.1
	done
	echo "server.sh: $name did not bind UDP 67 within 15 s" >&2
	stop_server
	return 1
}

vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
# utime + stime of a process in clock ticks (fields 14 and 15 of
# /proc/PID/stat; the command name, which may hold spaces, is cut first).
cputicks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0; }
HZ=$(getconf CLK_TCK)

# step NAME CLIENTS RATE: one fresh server, one perfdhcp run. Sets STEP to
# "PASS|FAIL achieved loss% rss_kib cpu_us" and appends the details to
# $TMP/steps. cpu_us is the server's CPU time (user + system) during the
# perfdhcp run per completed exchange: on a small machine perfdhcp itself
# can be the bottleneck (it needs more CPU than a fast server), and then the
# rate is the generator's ceiling while CPU per exchange still compares the
# servers.
# Runs in this shell (not a $(...) subshell), so the EXIT trap knows the PIDs.
step() {
	local name=$1 clients=$2 rate=$3 dir=$TMP/run out=$TMP/perfdhcp.out rc=0
	start_server "$name" "$dir" || return $?
	local cpu0
	cpu0=$(cputicks "$SRV_PID")
	timeout -s INT $((PERIOD + 15)) ip netns exec "$NS_PERF" \
		perfdhcp -4 "${PERF_TO[@]}" -r "$rate" -R "$clients" -p "$PERIOD" -W 500000 "${PERF_EXTRA[@]}" >"$out" 2>&1 &
	PERF_PID=$!
	wait "$PERF_PID" || rc=$?
	PERF_PID=
	local rss cpu
	rss=$(vmhwm "$SRV_PID")
	cpu=$(($(cputicks "$SRV_PID") - cpu0))
	stop_server
	# perfdhcp exits 3 when some exchanges did not complete: still a report.
	# perfdhcp's "Rate:" divides by the whole run including the -W wait, so
	# the rate used here is completed exchanges (ACKs) per second of sending.
	# A step passes if perfdhcp really offered >= 90 % of the target rate
	# and fewer than LOSS % of the exchanges it started were lost.
	STEP=$(awk -v rate="$rate" -v loss="$LOSS" -v rss="$rss" -v rc="$rc" -v period="$PERIOD" \
		-v cpu="$cpu" -v hz="$HZ" '
		/Statistics for: DISCOVER-OFFER/ { ex = "do" }
		/Statistics for: REQUEST-ACK/ { ex = "ra" }
		/^sent packets:/ { sent[ex] = $3 }
		/^received packets:/ { recv[ex] = $3 }
		END {
			if (sent["do"] == 0) { printf "FAIL 0 100.00 %s ? (perfdhcp rc %s, no report)\n", rss, rc; exit }
			lost = 100 * (sent["do"] - recv["ra"]) / sent["do"]
			achieved = recv["ra"] / period
			ok = lost < loss && sent["do"] >= 0.9 * rate * period
			us = recv["ra"] > 0 ? cpu * 1e6 / hz / recv["ra"] : 0
			printf "%s %.1f %.2f %s %.1f\n", ok ? "PASS" : "FAIL", achieved, lost, rss, us
		}' "$out")
	{
		echo "== $name clients=$clients rate=$rate rc=$rc"
		grep -E '^(Rate|sent packets|received packets|drops):|Statistics for' "$out"
	} >>"$TMP/steps"
}

# --- the search -------------------------------------------------------------
declare -A RATE RSS CPU TARGET
t_start=$SECONDS
printf '# udhcp server bench: perfdhcp %s, DORA, %s s per step, <%s%% lost, pool %s addresses, lease %s s\n' \
	"$(perfdhcp -v 2>&1 | awk '/VERSION/ { print $2 }')" "$PERIOD" "$LOSS" "$POOL_SIZE" "$LEASE" >&2

for clients in $CLIENTS; do
	for name in $SERVERS; do
		key="$name/$clients"
		if [ $((SECONDS - t_start)) -ge "$BUDGET" ]; then
			RATE[$key]="skipped(budget)"
			continue
		fi
		if [[ $name == udhcp* ]] && [ ! -x "$UDHCP_BIN" ]; then
			echo "udhcp: $UDHCP_BIN not found (cargo build --release): n/a" >&2
			RATE[$key]=n/a
			continue
		fi
		lo=0 hi=0 best="" bestrss="" bestcpu="" r=$START
		# Doubling (or halving, if the first rate fails), then bisection.
		phase=up
		while :; do
			if [ $((SECONDS - t_start)) -ge "$BUDGET" ]; then
				echo "  budget of $BUDGET s reached" >&2
				break
			fi
			rc=0
			step "$name" "$clients" "$r" || rc=$?
			if [ "$rc" != 0 ]; then
				best="error"
				break
			fi
			read -r verdict achieved lost rss cpu _ <<<"$STEP"
			printf '  %-8s R=%-6s r=%-6s achieved %-10s lost %6s%%  VmHWM %s KiB  CPU %s us/DORA  %s\n' \
				"$name" "$clients" "$r" "$achieved" "$lost" "$rss" "$cpu" "$verdict" >&2
			if [ "$verdict" = PASS ]; then
				lo=$r best=$achieved bestrss=$rss bestcpu=$cpu TARGET[$key]=$r
			else
				hi=$r
			fi
			case $phase in
			up)
				if [ "$verdict" = PASS ]; then
					[ "$r" -ge "$CAP" ] && break
					r=$((r * 2))
					[ "$r" -gt "$CAP" ] && r=$CAP
				elif [ "$lo" = 0 ]; then
					phase=down
					r=$((r / 2))
					[ "$r" -lt "$FLOOR" ] && break
				else
					phase=bisect n=0
				fi
				;;
			down)
				if [ "$verdict" = PASS ]; then
					phase=bisect n=0
				else
					r=$((r / 2))
					[ "$r" -lt "$FLOOR" ] && break
				fi
				;;
			esac
			if [ "$phase" = bisect ]; then
				[ "$n" -ge "$BISECT" ] && break
				n=$((n + 1))
				r=$(((lo + hi) / 2))
				[ $((hi - lo)) -le $((lo / 20 + 1)) ] && break
			fi
		done
		RATE[$key]=${best:-"<$FLOOR"}
		RSS[$key]=${bestrss:-}
		CPU[$key]=${bestcpu:-}
	done
done

# --- report -----------------------------------------------------------------
echo
echo "DHCPv4 server bench ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r); perfdhcp and server share them)"
printf '%-10s %8s %14s %8s %14s %14s\n' server clients "max DORA/s" "(target)" "peak RSS KiB" "CPU us/DORA"
for clients in $CLIENTS; do
	for name in $SERVERS; do
		key="$name/$clients"
		printf '%-10s %8s %14s %8s %14s %14s\n' "$name" "$clients" "${RATE[$key]:-n/a}" \
			"${TARGET[$key]:-}" "${RSS[$key]:-n/a}" "${CPU[$key]:-n/a}"
	done
done
echo
num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
# ratio A B: "A/B×" to two decimals, or n/a unless both are numbers and B
# is not zero.
ratio() {
	if num "$1" && num "$2" && awk -v b="$2" 'BEGIN { exit !(b + 0 != 0) }'; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'
	else
		echo "n/a"
	fi
}
for clients in $CLIENTS; do
	ours=${RATE[udhcp/$clients]:-n/a}
	ours_rss=${RSS[udhcp/$clients]:-}
	ours_cpu=${CPU[udhcp/$clients]:-}
	for name in $SERVERS; do
		[ "$name" = udhcp ] && continue
		theirs=${RATE[$name/$clients]:-n/a}
		theirs_rss=${RSS[$name/$clients]:-}
		theirs_cpu=${CPU[$name/$clients]:-}
		rr=$(ratio "$ours" "$theirs")
		mr=$(ratio "$ours_rss" "$theirs_rss")
		cr=$(ratio "$ours_cpu" "$theirs_cpu")
		printf 'clients %-6s rate udhcp/%-8s = %-8s RSS udhcp/%-8s = %-8s CPU/DORA udhcp/%-8s = %s\n' \
			"$clients" "$name" "$rr" "$name" "$mr" "$name" "$cr"
	done
done
# Three networks against one, same relayed traffic (issue 9 target: within
# 10 %).
for clients in $CLIENTS; do
	one=${RATE[udhcp-r/$clients]:-} three=${RATE[udhcp3/$clients]:-}
	one_cpu=${CPU[udhcp-r/$clients]:-} three_cpu=${CPU[udhcp3/$clients]:-}
	rr=$(ratio "$three" "$one")
	cr=$(ratio "$three_cpu" "$one_cpu")
	printf 'clients %-6s three networks / one (max-rate search): rate %-8s CPU/DORA %s\n' "$clients" "$rr" "$cr"
done
# The paired comparison: the same offered rate, the two servers alternating
# ABBA so that drift in the machine's load hits both alike; medians.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if [ "$PAIRS" -gt 0 ] && [ -x "$UDHCP_BIN" ]; then
	echo
	echo "paired: udhcp-r (one network) vs udhcp3 (three), $PAIR_RATE DORA/s offered, $PAIRS rounds ABBA"
	for clients in $CLIENTS; do
		: >"$TMP/pair.udhcp-r" && : >"$TMP/pair.udhcp3"
		for i in $(seq "$PAIRS"); do
			order="udhcp-r udhcp3"
			[ $((i % 2)) = 0 ] && order="udhcp3 udhcp-r"
			for name in $order; do
				step "$name" "$clients" "$PAIR_RATE" || continue
				read -r verdict achieved lost rss cpu _ <<<"$STEP"
				printf '  %-8s R=%-6s round %s achieved %-10s lost %6s%%  VmHWM %s KiB  CPU %s us/DORA  %s\n' \
					"$name" "$clients" "$i" "$achieved" "$lost" "$rss" "$cpu" "$verdict" >&2
				echo "$cpu $achieved" >>"$TMP/pair.$name"
			done
		done
		c1=$(awk '{ print $1 }' "$TMP/pair.udhcp-r" | median)
		c3=$(awk '{ print $1 }' "$TMP/pair.udhcp3" | median)
		a1=$(awk '{ print $2 }' "$TMP/pair.udhcp-r" | median)
		a3=$(awk '{ print $2 }' "$TMP/pair.udhcp3" | median)
		cr=$(ratio "$c3" "$c1")
		printf 'clients %-6s median CPU/DORA one %s us, three %s us: three/one %s; median achieved %s vs %s DORA/s\n' \
			"$clients" "$c1" "$c3" "$cr" "$a1" "$a3"
	done
fi
echo "(total $((SECONDS - t_start)) s)"
