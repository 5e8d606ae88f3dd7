#!/usr/bin/env bash
# The first GPU run of the experimental A-free forward (SWITCHYARD_A_FROM_H=1; docs/kernel-notes.md, "What is
# left", item 8): the checks with it (the cases whose chunks suit the multicast kernel take the new path; the rest
# run as before), then the small shapes' bench with and without it, with the PyTorch baseline in the same call.
# usage: bench/experiments/a-from-h.sh BINARY BASELINE_SCRIPT OUT_DIR
set -uo pipefail
bin=$1; baseline=$2; out=$3
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,power.limit,uuid --format=csv > "$out/env.txt"
SWITCHYARD_A_FROM_H=1 timeout 120 "$bin" check --device cuda --cases 16 > "$out/check-fwd-ah.txt" 2>&1
SWITCHYARD_A_FROM_H=1 timeout 150 "$bin" check --device cuda --backward --cases 24 > "$out/check-bwd-ah.txt" 2>&1
echo "A from H: forward $(tail -1 "$out/check-fwd-ah.txt"); backward $(tail -1 "$out/check-bwd-ah.txt")" | tee "$out/check.txt"
python3 "$baseline" "$out/torch.json" > "$out/torch.txt" 2>&1
for mode in keep ah; do
  for cc in default 256; do
    env=(); [[ $mode == ah ]] && env=(SWITCHYARD_A_FROM_H=1)
    cols=(); [[ $cc != default ]] && cols=(--chunk-columns "$cc")
    env "${env[@]}" timeout 120 "$bin" bench --device cuda --backward --weight-gradients bf16 \
      --shape 1.4B-n256 --shape 7B-n256 --shape 30B-n1024 "${cols[@]}" --json "$out/$mode-$cc.json" \
      > "$out/$mode-$cc.txt" 2>&1
    python3 "$(dirname "$0")/../compare.py" "$out/$mode-$cc.json" "$out/torch.json" "$out/compare-$mode-$cc.md"
  done
done
grep -h "" "$out"/compare-*.md | cut -c1-220
