#!/usr/bin/env bash
# The GPU conformance checks of one binary, as every device call of a kernel change runs them: forward and backward
# on one fresh seed (the backward cases include bf16 dW, column chunks and 4-block persistent grids; their counts are
# reported), the expert-parallel backward at R = 2, and the sanitizers (SANITIZE=0 skips them). Writes
# check-fwd.txt and check-bwd.txt (the full logs) and appends a summary to check.txt, all in OUT_DIR. The forward's
# limit is 150 s: a fresh machine compiles every kernel first, and 100 s once stopped a run at 13 of 16 cases, of an
# experimental kernel, for a reason not found (slow or hung; bench/results/2026-12-06-H100-a-free-h-by-tma-batched-77c7dc6/).
# usage: bench/gpu_checks.sh BINARY OUT_DIR [SEED]   (FWD_CASES, BWD_CASES, EP_CASES override 16, 24, 8)
set -uo pipefail
bin=$1; out=$2; seed=${3:-$RANDOM}
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
echo "== $(basename "$bin") seed $seed" >> "$out/check.txt"
timeout 150 "$bin" check --device cuda --cases "${FWD_CASES:-16}" --seed "$seed" > "$out/check-fwd.txt" 2>&1
echo "forward: $(tail -1 "$out/check-fwd.txt")" >> "$out/check.txt"
timeout 150 "$bin" check --device cuda --backward --cases "${BWD_CASES:-24}" --seed "$seed" > "$out/check-bwd.txt" 2>&1
echo "backward: $(tail -1 "$out/check-bwd.txt")" >> "$out/check.txt"
echo "backward cases on a 4-block grid: $(grep -c "grid 4" "$out/check-bwd.txt")" >> "$out/check.txt"
echo "backward cases in column chunks: $(grep -c "column chunks of" "$out/check-bwd.txt")" >> "$out/check.txt"
echo "ep R=2: $(timeout 60 "$bin" check --device cuda --ranks 2 --backward --cases "${EP_CASES:-8}" --max-tokens 4096 2>&1 | tail -1)" \
  >> "$out/check.txt"
[[ ${SANITIZE:-1} == 0 ]] || timeout 90 "$(dirname "$0")/sanitizers.sh" "$bin" "$out/check.txt" > /dev/null 2>&1
