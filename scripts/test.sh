#!/usr/bin/env bash
# The README's test command: every unit, integration and (as root) network
# namespace test. Namespace tests create and remove their own namespaces;
# with UDHCP_REQUIRE_NETNS=1 a namespace test that cannot run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --locked "$@"
