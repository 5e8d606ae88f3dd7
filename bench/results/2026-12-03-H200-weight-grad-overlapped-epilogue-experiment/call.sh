#!/usr/bin/env bash
# v15.1: the overlapped epilogue in the bf16 weight gradients (sy_gemm_weight_grad_tma_bf16_ov_256). Checks
# (forward, backward with bf16-dW cases on full and 4-block grids, sanitizers), ncu per-kernel times at 30B-n256 of
# both epilogues (SWITCHYARD_BF16_EPILOGUE=serial: neither kernel overlaps), and their A/B at three shapes in two
# rounds with the PyTorch baseline of this call. All with bf16 dW.
set -u
o=/tmp/c6; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\n%s exec %s "$@" --weight-gradients bf16\n' "$2" "$u" > carry/$1; chmod +x carry/$1; }
mk serial "SWITCHYARD_BF16_EPILOGUE=serial"; mk ov ""
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 150 $u check --device cuda --backward --cases 24 --seed $s > $o/check-bwd.txt 2>&1; tail -1 $o/check-bwd.txt | sed 's/^/backward: /' >> $o/check.txt
grep "dW bf16" $o/check-bwd.txt | grep -c "grid 4" | sed 's/^/backward cases with bf16 dW on a 4-block grid: /' >> $o/check.txt
timeout 60 $u check --device cuda --cases 8 --seed $s > $o/check-fwd.txt 2>&1; tail -1 $o/check-fwd.txt | sed 's/^/forward: /' >> $o/check.txt
timeout 80 bench/sanitizers.sh $u $o/check.txt > /dev/null 2>&1
# memcheck on 8 small backward cases: cases 3 and 6 write bf16 dW on a 4-block grid (the carried epilogue)
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 3 $u check --device cuda --backward --cases 8 --max-tokens 300 --seed $s > $o/memcheck8.txt 2>&1
echo "memcheck, 8 cases: exit $? ($(grep -E 'ERROR SUMMARY' $o/memcheck8.txt | head -1); $(tail -1 $o/memcheck8.txt | grep -o '[0-9]* passed, [0-9]* failed'))" >> $o/check.txt
cat $o/check.txt; cp $o/env.txt $o/check*.txt $OUT/
NCU_ALL_SHAPES="30B-n256" timeout 260 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" carry/serial carry/ov > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
grep -E "^#|coop|weight_grad|dswiglu|total" $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
