#!/usr/bin/env bash
# Training experiment 2 on the H100: tokens per step and steps at 7B-n256 (the recovery's floor is misrouting that
# falls with less gradient noise per step).
set -u
o=/tmp/c4; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
nvidia-smi --query-gpu=name,driver_version,power.limit,uuid --format=csv > $o/env.txt; cat $o/env.txt
run() { name=$1; shift; (cd $o && timeout 70 $u train --device cuda --log-every 25 --csv $o/$name.csv "$@" > $o/$name.txt 2>&1); echo "== $name $*"; tail -1 $o/$name.txt; tail -2 $o/$name.txt | head -1; tar czf $OUT/all.tgz -C $o .; }
run t4x-s400 --tokens 98304 --steps 400
run t8x-s300 --tokens 196608 --steps 300
run t4x-rlr0.5 --tokens 98304 --router-lr-scale 0.5
run t8x-s400 --tokens 196608 --steps 400
run t8x-s500 --tokens 196608 --steps 500
nvidia-smi --query-gpu=memory.used --format=csv >> $o/env.txt
