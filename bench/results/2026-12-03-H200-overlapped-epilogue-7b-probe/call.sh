#!/usr/bin/env bash
# 7B-n256 probe (binary as the final call, 708ad9c's kernels): why the overlapped epilogue's backward was 5% slower
# there. Serial against overlapped epilogue (bf16 dW), each also on one stream (SWITCHYARD_OVERLAP=0), two rounds at
# 7B-n256 and 30B-n1024 with the PyTorch baseline of this call, and ncu per-kernel times of all four at 7B-n256.
set -u
o=/tmp/c5; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
mk() { printf '#!/bin/sh\n%s exec %s "$@" --weight-gradients bf16\n' "$2" "$u" > carry/$1; chmod +x carry/$1; }
mk serial "SWITCHYARD_BF16_EPILOGUE=serial"; mk ov ""
mk serial1 "SWITCHYARD_BF16_EPILOGUE=serial SWITCHYARD_OVERLAP=0"; mk ov1 "SWITCHYARD_OVERLAP=0"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,power.limit --format=csv > $o/env.txt; cp $o/env.txt $OUT/
NCU_ALL_SHAPES="7B-n256" timeout 400 bench/ab_gpu.sh $o/ab carry/torch_moe_baseline.py "7B-n256 30B-n1024" carry/serial carry/ov carry/serial1 carry/ov1 > $o/ab.log 2>&1
grep -E "^==|7B-n256|30B-n1024" $o/ab/compare.md | cut -c1-130
for f in $o/ab/ncu-*-7B-n256.csv; do echo "== $f"; python3 carry/launches.py $f; done | tee $o/launches.txt
grep -E "^#|coop|weight_grad|dswiglu|combine_bf16|total" $o/ab/ncu.txt
cp $o/ab/compare.md $o/launches.txt $OUT/; tar czf $OUT/all.tgz -C $o .
