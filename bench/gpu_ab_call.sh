#!/usr/bin/env bash
# One device call for a kernel change: the new binary's conformance checks (forward and backward, fresh seed),
# then bench/ab_gpu.sh (old and new binary in alternation, PyTorch baseline, ncu of the new one). Everything lands in
# /tmp/res; the short logs and one tarball go to $OUT.
# usage: bench/gpu_ab_call.sh OLD.gz NEW.gz "SHAPES" "NCU_SHAPES" ["NCU_ALL_SHAPES"]
set -uo pipefail
# NEW may be several binaries, space-separated in one argument; each is checked, the checks' seed shared.
old=$1; new=$2; shapes=$3; ncu_shapes=$4; ncu_all=${5:-}
w=/tmp/res; mkdir -p $w
seed=$RANDOM
for b in $new; do
  u="/tmp/$(basename "${b%.*}")"
  python3 -c "import gzip, lzma, shutil, sys; o = gzip.open if sys.argv[1].endswith('.gz') else lzma.open; shutil.copyfileobj(o(sys.argv[1]), open(sys.argv[2], 'wb'))" "$b" "$u"
  chmod +x "$u"
  echo "== $(basename "$u") seed $seed" | tee -a $w/check.txt
  $u check --device cuda --cases ${CHECK_CASES:-30} --seed $seed 2>&1 | tail -2 | tee -a $w/check.txt
  $u check --device cuda --backward --cases ${CHECK_CASES:-30} --seed $seed 2>&1 | tail -2 | tee -a $w/check.txt
done
if [[ -n ${SANITIZE:-} ]] && command -v compute-sanitizer >/dev/null; then  # the last new binary, 3 small cases
  for tool in memcheck racecheck; do
    compute-sanitizer --tool $tool --error-exitcode 3 $u check --device cuda --backward --cases 3 --max-tokens 300 \
      > "/tmp/sanitizer-$tool.txt" 2>&1
    echo "compute-sanitizer $tool: exit $? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "/tmp/sanitizer-$tool.txt" | tail -1))" \
      | tee -a $w/check.txt
  done
fi
NCU_SHAPES="$ncu_shapes" NCU_ALL_SHAPES="$ncu_all" timeout ${AB_TIMEOUT:-500} bench/ab_gpu.sh $w carry/torch_moe_baseline.py "$shapes" "$old" $new > $w/log.txt 2>&1
cp $w/check.txt $w/bench.txt $w/torch.txt $w/env.txt $OUT/ 2>/dev/null; cp $w/ncu.txt $OUT/ 2>/dev/null
tar czf $OUT/all.tgz -C $w .
grep -E "^== |config|n256|n1024|n512" $w/bench.txt | grep -v "^ *$" | head -40
cat $w/torch.txt | grep -E "grouped|dense"; cat $w/ncu.txt 2>/dev/null
