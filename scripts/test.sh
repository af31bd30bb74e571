#!/usr/bin/env bash
# The README's test command: every unit, integration and (as root) network
# namespace test. Namespace tests create and remove their own namespaces;
# with UDHCP_REQUIRE_NETNS=1 a namespace test that cannot run fails.
#
# Ends with one total line, `tests: N passed, M failed` (cargo's own last
# line is the doc-test binary's, which has no tests); it is also written to
# target/test-summary for .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
summary=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log")
mkdir -p target
echo "$summary" | tee target/test-summary
exit "$status"
