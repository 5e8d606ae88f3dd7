#!/usr/bin/env bash
# compute-sanitizer memcheck and racecheck on a small backward check (3 cases, ≤ 300 tokens); one summary line per
# tool appended to OUT_FILE. Does nothing where compute-sanitizer is missing.
# usage: bench/sanitizers.sh BINARY OUT_FILE
set -uo pipefail
bin=$1; out=$2
command -v compute-sanitizer >/dev/null || { echo "compute-sanitizer: not found, not run" | tee -a "$out"; exit 0; }
for tool in memcheck racecheck; do
  compute-sanitizer --tool $tool --error-exitcode 3 "$bin" check --device cuda --backward --cases 3 --max-tokens 300 \
    > "/tmp/sanitizer-$tool.txt" 2>&1
  echo "compute-sanitizer $tool: exit $? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "/tmp/sanitizer-$tool.txt" | tail -1))" \
    | tee -a "$out"
done
