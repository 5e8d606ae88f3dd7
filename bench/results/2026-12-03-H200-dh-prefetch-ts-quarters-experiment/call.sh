#!/usr/bin/env bash
# Call 1: late L2 prefetch of H in the dH kernel (SY_DH_PREFETCH_STEPS) and the multicast kernel's TMA-stored
# epilogue in quarter passes (SY_TS_QUARTERS), both through SWITCHYARD_KERNEL_DEFINES on one binary.
set -u
o=/tmp/c1; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="%s" exec %s "$@"\n' "$2" "$u" > carry/$1; chmod +x carry/$1; }
mk e8 "SY_DH_PREFETCH_STEPS=8 SY_TS_QUARTERS=1"
mk e16 "SY_DH_PREFETCH_STEPS=16 SY_TS_QUARTERS=1"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
timeout 120 carry/e8 check --device cuda --backward --cases 6 --seed 17 2>&1 | tail -1 | tee $o/smoke.txt
grep -q " 0 failed" $o/smoke.txt || { echo "smoke failed; stopping"; cp $o/* $OUT/; exit 1; }
s=$RANDOM; echo "seed $s" > $o/check.txt
for b in e8; do
  timeout 70 carry/$b check --device cuda --cases 16 --seed $s 2>&1 | tail -1 | sed "s/^/$b forward: /" >> $o/check.txt
  timeout 70 carry/$b check --device cuda --backward --cases 16 --seed $s 2>&1 | tail -1 | sed "s/^/$b backward: /" >> $o/check.txt
done
cat $o/check.txt
NCU_ALL_SHAPES="30B-n256" timeout 230 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/e8 carry/e16 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
cat $o/ab/ncu.txt
timeout 100 bench/sanitizers.sh carry/e8 $o/check.txt > /dev/null 2>&1
cat $o/check.txt
# Where the base kernels' warps wait: dX rows (multicast), dH, weight gradients at 30B-n256.
timeout 60 ncu --clock-control none --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
  -k regex:"coop_mc_ts|dswiglu|weight_grad" -c 9 $u bench --device cuda --backward --shape 30B-n256 --warmup 0 --iterations 1 \
  > $o/ncu-stalls.txt 2>&1
grep -E "sy_gemm|Stall|Warp Cycles|Eligible|Issued|Throughput|Hit Rate" $o/ncu-stalls.txt | head -60
cp $o/check.txt $o/ab/compare.md $o/ab/ncu.txt $o/ncu-stalls.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
