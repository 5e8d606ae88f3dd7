#!/usr/bin/env bash
# Training experiment on the H100: where the 7B-n256 recovery's floor comes from (misrouted share per variant).
set -u
o=/tmp/c3; mkdir -p $o; u=$(bench/unpack_binary.sh carry/sy.xz)
nvidia-smi --query-gpu=name,driver_version,power.limit,uuid --format=csv > $o/env.txt; cat $o/env.txt
run() { name=$1; shift; (cd $o && timeout 60 $u train --device cuda --log-every 25 --csv $o/$name.csv "$@" > $o/$name.txt 2>&1); echo "== $name $*"; tail -1 $o/$name.txt; tail -2 $o/$name.txt | head -1; }
run default
run rlr0.25 --router-lr-scale 0.25
run rlr0.5 --router-lr-scale 0.5
run rlr2 --router-lr-scale 2
run bias0 --bias-rate 0
run tokens4x --tokens 98304
run steps1000 --steps 1000
run lr2x --lr 4.08e-3
run lrhalf --lr 1.02e-3
run sigma0.2 --student-init perturbed:0.2
run wd0 --weight-decay 0
tar czf $OUT/all.tgz -C $o .
