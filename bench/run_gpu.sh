#!/usr/bin/env bash
# One GPU call: conformance, sanitizers on a small run, the forward benchmark and the PyTorch baseline side by side.
# usage: bench/run_gpu.sh SWITCHYARD_BINARY TORCH_BASELINE_SCRIPT OUT_DIR
set -uo pipefail
bin=$1; baseline=$2; out=$3
mkdir -p "$out"
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit,uuid --format=csv | tee "$out/env.txt"
"$bin" devices >> "$out/env.txt" 2>&1
"$bin" check --device cuda --cases "${CHECK_CASES:-30}" --seed "${CHECK_SEED:-$RANDOM}" 2>&1 | tee "$out/check.txt"
"$bin" check --device cuda --backward --cases "${CHECK_CASES:-30}" --seed "${CHECK_SEED:-$RANDOM}" 2>&1 | tee -a "$out/check.txt"
"$(dirname "$0")/sanitizers.sh" "$bin" "$out/sanitizers.txt"
"$bin" bench --device cuda --backward --json "$out/switchyard.json" 2>&1 | tee "$out/bench.txt"
python3 "$baseline" "$out/torch.json" 2>&1 | tee "$out/torch.txt"
python3 "$(dirname "$0")/compare.py" "$out/switchyard.json" "$out/torch.json" "$out/compare.md"
