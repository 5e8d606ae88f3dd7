import csv, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
h = rows[0]; ix = {k: h.index(k) for k in ("ID", "Kernel Name", "Metric Name", "Metric Value")}
L = {}
for r in rows[1:]:
    if r[ix["Metric Name"]] != "gpu__time_duration.sum": continue
    L[int(r[ix["ID"]])] = (r[ix["Kernel Name"]].split("(")[0], float(r[ix["Metric Value"]].replace(",", "")))
c = [v for k, v in sorted(L.items()) if "coop" in v[0]][-8:]
print("coop launches (us):", " ".join(f"{t/1e3:.0f}" for _, t in c))
