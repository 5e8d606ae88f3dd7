#!/usr/bin/env bash
# Call 6: L2 prefetch of the gathered A rows P k-steps ahead in the one-role kernels (up-projection, dH), through
# SWITCHYARD_KERNEL_DEFINES="SY_A_PREFETCH=P" on one binary: P = 4 and 8 against off.
set -u
o=/tmp/c6; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="%s" exec %s "$@"\n' "$2" "$u" > carry/$1; chmod +x carry/$1; }
mk p4 "SY_A_PREFETCH=4"; mk p8 "SY_A_PREFETCH=8"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
timeout 100 carry/p8 check --device cuda --backward --cases 6 --seed 17 2>&1 | tail -1 | tee $o/smoke.txt
grep -q " 0 failed" $o/smoke.txt || { echo "smoke failed; stopping"; cp $o/* $OUT/; exit 1; }
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 60 carry/p8 check --device cuda --cases 12 --seed $s 2>&1 | tail -1 | sed "s/^/p8 forward: /" >> $o/check.txt
timeout 60 carry/p8 check --device cuda --backward --cases 12 --seed $s 2>&1 | tail -1 | sed "s/^/p8 backward: /" >> $o/check.txt
cat $o/check.txt; cp $o/check.txt $OUT/
NCU_ALL_SHAPES="30B-n256" timeout 220 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/p4 carry/p8 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
grep -E "^#|up_swiglu|dswiglu|total" $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
timeout 80 bench/sanitizers.sh carry/p8 $o/check.txt > /dev/null 2>&1; tail -2 $o/check.txt; cp $o/check.txt $OUT/
