#!/usr/bin/env bash
# Weight gradients with 32-row k-steps in 8 stages (r32) against the 64-row, 4-stage default (wg), one binary.
set -u
o=/tmp/c5; mkdir -p $o; u=$(bench/unpack_binary.sh carry/wg.xz); s=$RANDOM
timeout 90 carry/r32 check --device cuda --backward --cases 6 --seed 17 2>&1 | tail -1 | tee $o/smoke.txt
grep -q " 0 failed" $o/smoke.txt || { echo "smoke failed; stopping"; cp $o/* $OUT/; exit 1; }
echo "seed $s" > $o/check.txt
timeout 70 carry/r32 check --device cuda --backward --cases 16 --seed $s 2>&1 | tail -1 | sed 's/^/r32 backward: /' >> $o/check.txt
timeout 80 bench/sanitizers.sh carry/r32 $o/check.txt > /dev/null 2>&1
cat $o/check.txt; cp $o/check.txt $OUT/
timeout 200 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/r32 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200; cp $o/ab/compare.md $OUT/;
for b in $u carry/r32; do
  timeout 30 ncu --clock-control none --csv --print-units base -k regex:weight_grad \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes.sum,sm__cycles_elapsed.avg.per_second \
    $b bench --device cuda --backward --shape 30B-n256 --warmup 0 --iterations 1 > $o/ncu-$(basename $b).csv 2>/dev/null
  python3 - $o/ncu-$(basename $b).csv <<'PY' | tee -a $o/ncu.txt
import csv, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
h, body = rows[0], rows[1:]
ix = {k: h.index(k) for k in ("ID", "Kernel Name", "Metric Name", "Metric Value")}
L = {}
for r in body:
    L.setdefault(int(r[ix["ID"]]), {"name": r[ix["Kernel Name"]].split("(")[0]})[r[ix["Metric Name"]]] = float(r[ix["Metric Value"]].replace(",", ""))
print("==", sys.argv[1].split("/")[-1])
for k in sorted(L):
    l = L[k]
    print(f"{l['name']:34s} {l.get('gpu__time_duration.sum', 0) / 1e6:7.3f} ms tensor {l.get('sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active', 0):5.1f}% dram {l.get('dram__bytes.sum', 0) / 1e9:5.2f} GB clock {l.get('sm__cycles_elapsed.avg.per_second', 0) / 1e6:6.0f} MHz")
PY
done
cp $o/check.txt $o/ab/compare.md $o/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
