#!/usr/bin/env bash
# The README's "main job": a server and a client namespace joined by veth,
# udhcpd serving, udhcpc obtaining a lease, then the configured interface and
# dumpleases. The applets it needs arrive with issues 4 and 5.
echo "demo: udhcpd and udhcpc are not implemented yet (issues 4 and 5)" >&2
exit 1
