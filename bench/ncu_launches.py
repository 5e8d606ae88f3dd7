# Per-launch rows of an ncu --csv --metrics file: time, tensor-pipe share, DRAM bytes, L2 hit rate, SM clock.
# usage: python3 bench/ncu_launches.py FILE.csv   (ncu_summary.py sums launches per kernel name instead)
import csv, sys
rows = {}
for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')):
    k = (int(r["ID"]), r["Kernel Name"][:36])
    rows.setdefault(k, {})[r["Metric Name"]] = r["Metric Value"].replace(",", "")
for (i, name), m in sorted(rows.items()):
    t = float(m.get("gpu__time_duration.sum", 0)) / 1e6
    print(f"{i:3d} {name:36s} {t:7.3f} ms  tensor {float(m.get('sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active', 0)):5.1f}%"
          f"  DRAM {float(m.get('dram__bytes.sum', 0)) / 1e9:5.2f} GB  L2 hit {float(m.get('lts__t_sector_hit_rate.pct', 0)):5.1f}%"
          f"  {float(m.get('sm__cycles_elapsed.avg.per_second', 0)) / 1e6:6.0f} MHz")
