"""Per-kernel totals from an `ncu --csv --metrics gpu__time_duration.sum,...` log of one `bench --backward
--warmup 0 --iterations 1` run: the kernels of the last forward + backward (from the last up-projection launch
that a dH launch follows), each kernel's launches summed. With --launches: every launch of the log on its own
line (any `-k` filter; also the L2 hit rate and SM clock where the log has lts__t_sector_hit_rate.pct and
sm__cycles_elapsed.avg.per_second).
usage: python3 bench/ncu_summary.py [--launches] NCU.csv"""
import csv, sys
from collections import OrderedDict

per_launch = sys.argv[1] == "--launches"
path = sys.argv[-1]
rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
head, body = rows[0], rows[1:]
ix = {k: head.index(k) for k in ("ID", "Kernel Name", "Metric Name", "Metric Value")}
launches = OrderedDict()
for r in body:
    key = int(r[ix["ID"]])
    launches.setdefault(key, {"name": r[ix["Kernel Name"]].split("(")[0]})[r[ix["Metric Name"]]] = float(
        r[ix["Metric Value"]].replace(",", ""))
seq = list(launches.values())
if per_launch:
    for i, l in launches.items():
        print(f"{i:3d} {l['name'][:36]:36s} {l.get('gpu__time_duration.sum', 0) / 1e6:7.3f} ms  tensor "
              f"{l.get('sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active', 0):5.1f}%  DRAM "
              f"{l.get('dram__bytes.sum', 0) / 1e9:5.2f} GB  L2 hit {l.get('lts__t_sector_hit_rate.pct', 0):5.1f}%  "
              f"{l.get('sm__cycles_elapsed.avg.per_second', 0) / 1e6:6.0f} MHz")
    sys.exit(0)
# The last forward + backward starts at the last sy_gemm_up_swiglu launch that precedes a dswiglu launch.
starts = [i for i, l in enumerate(seq) if l["name"].startswith("sy_gemm_up_swiglu")]
with_backward = [i for i in starts if any(l["name"].startswith("sy_gemm_dswiglu") for l in seq[i:])]
if not with_backward:
    sys.exit(f"{path}: no up-projection followed by a dH kernel (was the run a --backward bench?)")
start = with_backward[-1]
tot = OrderedDict()
for l in seq[start:]:
    t = tot.setdefault(l["name"], [0.0, 0.0, 0.0, 0])
    t[0] += l.get("gpu__time_duration.sum", 0) / 1e6
    t[1] += l.get("gpu__time_duration.sum", 0) * l.get("sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active", 0)
    t[2] += l.get("dram__bytes.sum", 0) / 1e9
    t[3] += 1
print(f"# {path}: kernels of the last forward + backward")
print(f"{'kernel':34s} {'ms':>8s} {'tensor%':>8s} {'DRAM GB':>8s} {'n':>4s}")
for name, (ms, tw, gb, n) in tot.items():
    print(f"{name:34s} {ms:8.3f} {tw / (ms * 1e6) if ms else 0:8.1f} {gb:8.2f} {n:4d}")
print(f"{'total':34s} {sum(v[0] for v in tot.values()):8.3f}")
