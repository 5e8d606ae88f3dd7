#!/usr/bin/env bash
# Device call for ee35289 (bf16 weight gradients on request; the warp-specialized dH on the one-role kernel's
# arguments, first run on a GPU): checks (forward, backward with fp32 and bf16 dW cases, EP R = 2, sanitizers), then
# the A/B of fp32 against bf16 dW1/dW2 (`bench --weight-gradients bf16`, a wrapper) at three shapes, two rounds,
# against the PyTorch baseline of this call, with ncu of both at 30B-n256.
set -u
o=/tmp/c1; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
printf '#!/bin/sh\nexec %s "$@" --weight-gradients bf16\n' "$u" > carry/bf16; chmod +x carry/bf16
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 100 $u check --device cuda --cases 16 --seed $s > $o/check-fwd.txt 2>&1; tail -1 $o/check-fwd.txt | sed 's/^/forward: /' >> $o/check.txt
timeout 150 $u check --device cuda --backward --cases 24 --seed $s > $o/check-bwd.txt 2>&1; tail -1 $o/check-bwd.txt | sed 's/^/backward: /' >> $o/check.txt
grep -c "dW bf16" $o/check-bwd.txt | sed 's/^/backward cases with bf16 dW: /' >> $o/check.txt
grep "dW bf16" $o/check-bwd.txt | grep -c "^PASS" | sed 's/^/  of them passed: /' >> $o/check.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
timeout 60 $u check --device cuda --ranks 2 --backward --cases 8 --max-tokens 4096 2>&1 | tail -1 | sed 's/^/ep R=2: /' >> $o/check.txt
cat $o/check.txt; cp $o/check.txt $o/check-bwd.txt $OUT/
NCU_ALL_SHAPES="30B-n256" timeout 260 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" $u carry/bf16 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
grep -E "^#|weight_grad|total" $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
timeout 80 bench/sanitizers.sh $u $o/check.txt > /dev/null 2>&1; tail -2 $o/check.txt; cp $o/check.txt $OUT/
tar czf $OUT/all.tgz -C $o .
