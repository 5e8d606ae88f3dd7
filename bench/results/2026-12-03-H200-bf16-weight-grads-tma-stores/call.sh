#!/usr/bin/env bash
# Device call for 041b776 (bf16 weight gradients by TMA stores) against ee35289 (bf16 weight gradients staged through
# the ring and stored by the threads): checks of 041b776 (forward, backward with fp32 and bf16 dW cases, sanitizers),
# then the A/B at three shapes, two rounds, against the PyTorch baseline of this call, ncu of all three at 30B-n256
# (ee35289 bf16, 041b776 fp32, 041b776 bf16), and the 12-shape sweep of 041b776 with bf16 weight gradients.
set -u
o=/tmp/c2; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz); old=$(bench/unpack_binary.sh carry/sy-ee35289.xz)
printf '#!/bin/sh\nexec %s "$@" --weight-gradients bf16\n' "$old" > carry/ee35289-bf16; chmod +x carry/ee35289-bf16
printf '#!/bin/sh\nexec %s "$@"\n' "$u" > carry/fp32; chmod +x carry/fp32
printf '#!/bin/sh\nexec %s "$@" --weight-gradients bf16\n' "$u" > carry/bf16; chmod +x carry/bf16
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt
s=$RANDOM; echo "seed $s" > $o/check.txt
timeout 100 $u check --device cuda --cases 16 --seed $s > $o/check-fwd.txt 2>&1; tail -1 $o/check-fwd.txt | sed 's/^/forward: /' >> $o/check.txt
timeout 150 $u check --device cuda --backward --cases 24 --seed $s > $o/check-bwd.txt 2>&1; tail -1 $o/check-bwd.txt | sed 's/^/backward: /' >> $o/check.txt
grep -c "dW bf16" $o/check-bwd.txt | sed 's/^/backward cases with bf16 dW: /' >> $o/check.txt
grep "dW bf16" $o/check-bwd.txt | grep -c "^PASS" | sed 's/^/  of them passed: /' >> $o/check.txt
cat $o/check.txt; grep -A3 "^FAIL" $o/check-bwd.txt | head -20; cp $o/check.txt $o/check-bwd.txt $OUT/
timeout 80 bench/sanitizers.sh $u $o/check.txt > /dev/null 2>&1; tail -2 $o/check.txt; cp $o/check.txt $OUT/
NCU_ALL_SHAPES="30B-n256" timeout 300 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n256 30B-n1024" carry/ee35289-bf16 carry/fp32 carry/bf16 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n256|30B-n1024" $o/ab/compare.md | cut -c1-200
grep -E "^#|weight_grad|total" $o/ab/ncu.txt
cp $o/ab/compare.md $o/ab/ncu.txt $OUT/ 2>/dev/null; tar czf $OUT/all.tgz -C $o .
timeout 150 carry/bf16 bench --device cuda --backward --json $o/switchyard-bf16.json > $o/bench-bf16.txt 2>&1
python3 bench/compare.py $o/switchyard-bf16.json $o/ab/torch.json $o/compare-sweep-bf16.md; cut -c1-200 $o/compare-sweep-bf16.md
cp $o/compare-sweep-bf16.md $o/switchyard-bf16.json $OUT/; tar czf $OUT/all.tgz -C $o .
