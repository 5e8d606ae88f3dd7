#!/usr/bin/env bash
# One device call for a kernel change: each new binary's conformance checks (bench/gpu_checks.sh: forward, backward,
# EP R = 2, one fresh seed for all), the sanitizers on the last one (SANITIZE=0 skips them), then bench/ab_gpu.sh
# (old and new binaries in alternation, the PyTorch baseline and ratios, ncu). Everything lands in /tmp/res; the
# short logs and one tarball go to $OUT.
# usage: bench/gpu_ab_call.sh OLD "NEW..." "SHAPES" "NCU_SHAPES" ["NCU_ALL_SHAPES"]   (binaries plain, .gz or .xz)
set -uo pipefail
here=$(dirname "$0")
old=$("$here/unpack_binary.sh" "$1"); shapes=$3; ncu_shapes=$4; ncu_all=${5:-}
new=(); for b in $2; do new+=("$("$here/unpack_binary.sh" "$b")"); done
w=/tmp/res; mkdir -p $w
seed=$RANDOM
for u in "${new[@]}"; do
  if [[ $u == "${new[-1]}" ]]; then s=${SANITIZE:-1}; else s=0; fi
  SANITIZE=$s "$here/gpu_checks.sh" "$u" $w/checks-$(basename "$u") $seed
  cat $w/checks-$(basename "$u")/check.txt >> $w/check.txt
done
NCU_SHAPES="$ncu_shapes" NCU_ALL_SHAPES="$ncu_all" timeout ${AB_TIMEOUT:-500} "$here/ab_gpu.sh" $w carry/torch_moe_baseline.py "$shapes" "$old" "${new[@]}" \
  > $w/log.txt 2>&1
cp $w/check.txt $w/bench.txt $w/torch.txt $w/env.txt $w/compare.md $OUT/ 2>/dev/null; cp $w/ncu.txt $OUT/ 2>/dev/null
tar czf $OUT/all.tgz -C $w .
cat $w/check.txt $w/compare.md $w/ncu.txt 2>/dev/null
