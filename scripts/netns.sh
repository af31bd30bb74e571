#!/bin/sh
# Network-namespace lab for people: the layout of tests/common/netns.rs.
#
#   netns.sh up [N]        create N namespaces (default 2): udhcpt-<ID>-1..N,
#                          each with eth0 up, MAC 02:00:5e:99:00:<k> and
#                          10.99.0.<k>/24; two are joined by a veth pair,
#                          three or more by a bridge in udhcpt-<ID>-hub
#   netns.sh down          delete every udhcpt-<ID>-* namespace
#   netns.sh exec NS CMD…  run CMD in namespace NS (a number k or a full name)
#   netns.sh list          show the lab's namespaces
#
# ID is $UDHCPT_ID, default "sh". Tests use their PID as the ID and delete
# only namespaces of dead test processes, so a lab made here is never
# swept by them. Root only. Traffic stays inside the namespaces: nothing
# is attached to the host's interfaces. If `up` fails halfway, what it
# created is torn down.
set -eu

ID=${UDHCPT_ID:-sh}
P="udhcpt-$ID"

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

ns_name() {
	case $1 in
	udhcpt-*) printf '%s\n' "$1" ;;
	*) printf '%s-%s\n' "$P" "$1" ;;
	esac
}

lab_list() {
	ip netns list | awk '{print $1}' | grep "^$P-" || true
}

down() {
	for ns in $(lab_list); do
		ip netns del "$ns"
	done
}

up() {
	n=${1:-2}
	case $n in
	'' | *[!0-9]*) usage ;;
	esac
	[ "$n" -ge 1 ] && [ "$n" -le 250 ] || usage
	if [ -n "$(lab_list)" ]; then
		echo "netns.sh: $P-* already exists; run '$0 down' first" >&2
		exit 1
	fi
	trap 'echo "netns.sh: setup failed, tearing down" >&2; down' EXIT
	k=1
	while [ "$k" -le "$n" ]; do
		ip netns add "$P-$k"
		k=$((k + 1))
	done
	mac() { printf '02:00:5e:99:00:%02x' "$1"; }
	if [ "$n" -eq 1 ]; then
		ip -n "$P-1" link add eth0 address "$(mac 1)" type veth peer name peer0
		ip -n "$P-1" link set peer0 up
	elif [ "$n" -eq 2 ]; then
		ip -n "$P-1" link add eth0 address "$(mac 1)" type veth \
			peer name eth0 address "$(mac 2)" netns "$P-2"
	else
		hub="$P-hub"
		ip netns add "$hub"
		ip -n "$hub" link add br0 type bridge
		ip -n "$hub" link set br0 up
		k=1
		while [ "$k" -le "$n" ]; do
			ip -n "$hub" link add "p$k" type veth \
				peer name eth0 address "$(mac "$k")" netns "$P-$k"
			ip -n "$hub" link set "p$k" master br0 up
			k=$((k + 1))
		done
	fi
	k=1
	while [ "$k" -le "$n" ]; do
		ip -n "$P-$k" addr add "10.99.0.$k/24" dev eth0
		ip -n "$P-$k" link set lo up
		ip -n "$P-$k" link set eth0 up
		k=$((k + 1))
	done
	trap - EXIT
	lab_list
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up) up "$@" ;;
down) down ;;
list) lab_list ;;
exec)
	[ $# -ge 2 ] || usage
	ns=$(ns_name "$1")
	shift
	exec ip netns exec "$ns" "$@"
	;;
*) usage ;;
esac
