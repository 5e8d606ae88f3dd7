#!/usr/bin/env bash
# Is the weight gradients' and the multicast bf16 GEMM's epilogue cost a write burst of every SM at once?
# Binary: 516e961 + staggered tile phases (SWITCHYARD_STAGGER=P, off by default) + the probes of
# bench/experiments/epilogue-probes.patch. Variants:
#   sy    the default (no stagger);
#   st2, st4   SWITCHYARD_STAGGER=2 / 4: unit u waits (u mod P)/P of its first tile's length, timed on k-steps 1-3;
#   pst4  probe: SY_WG_STAGGER=4 SY_BF16_STAGGER=4, the wait before the first tile from a fixed 850 ns a k-step.
set -u
o=/tmp/c3; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
printf '#!/bin/sh\nSWITCHYARD_STAGGER=2 exec %s "$@"\n' "$u" > carry/st2
printf '#!/bin/sh\nSWITCHYARD_STAGGER=4 exec %s "$@"\n' "$u" > carry/st4
printf '#!/bin/sh\nSWITCHYARD_KERNEL_DEFINES="SY_WG_STAGGER=4 SY_BF16_STAGGER=4" exec %s "$@"\n' "$u" > carry/pst4
chmod +x carry/st2 carry/st4 carry/pst4
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 60 carry/st4 check --device cuda --cases 10 --seed $s 2>&1 | tail -1 | sed 's/^/st4 forward: /' >> $o/check.txt
timeout 80 carry/st4 check --device cuda --backward --cases 12 --seed $s 2>&1 | tail -1 | sed 's/^/st4 backward: /' >> $o/check.txt
cat $o/check.txt; cp $o/check.txt $OUT/
NCU_ALL_SHAPES="30B-n256 30B-n1024" timeout 440 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/st2 carry/st4 carry/pst4 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
grep -E "^#|coop_mc|weight_grad_tma_256|total" $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
