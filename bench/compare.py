"""Joins `switchyard bench --json` with the PyTorch baseline's JSON (same GPU run) and prints the ratios, with the
SM clock and board power each shape was timed at (NVML's medians, from bench since 4e163f4; "-" before), and
SonicMoE's H100 figures from MOE.md (its Fig. 14 TFLOP/s and Fig. 13 activation memory; "-" for shapes it lists
none for) beside ours: the last columns are ours over SonicMoE's forward and backward TFLOP/s, and our forward
activation memory over its.

usage: python3 bench/compare.py SWITCHYARD.json TORCH.json [OUT.md]
"""
import json
import sys


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


# SonicMoE on the H100, MOE.md §4: forward / backward TFLOP/s (read off its Fig. 14, ±3) and GiB (Fig. 13).
SONIC = {
    "1.4B-n256": (337, 365, 0.57), "7B-n256": (363, 404, 0.61), "7B-n1024": (465, 465, 0.60),
    "30B-n256": (427, 459, 2.45), "30B-n512": (502, 511, 2.45), "30B-n1024": (552, 554, 2.45),
    "120B-n1024": (558, 567, 4.45), "120B-n2048": (595, 586, 4.45),
}


def ratio(ours, theirs):
    return f"{ours / theirs:.2f}" if ours is not None and theirs else "-"


def main(ours_path, torch_path, out_path=None):
    ours = {r["config"]: r for r in json.load(open(ours_path))}
    theirs = {r["config"]: r.get("grouped") for r in json.load(open(torch_path))}
    lines = ["| config | fwd ms | fwd TFLOP/s | model fwd ms | torch fwd ms | fwd speed-up | bwd ms | bwd TFLOP/s "
             "| model bwd ms | torch bwd ms | bwd speed-up | fwd+bwd TFLOP/s | fwd act GiB | fwd+bwd act GiB | torch peak GiB "
             "| SM MHz | W | fwd / Sonic | bwd / Sonic | act / Sonic |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in ours.items():
        t = theirs.get(name)
        sonic = SONIC.get(name, (None, None, None))
        t_fwd = t["fwd_ms"] if t else None
        t_bwd = t["fwdbwd_ms"] - t["fwd_ms"] if t else None
        bwd = r.get("backwardMs")
        both = r["activationGiB"] + r["backwardActivationGiB"] if r.get("backwardActivationGiB") is not None else None
        fwd_x = f"{t_fwd / r['forwardMs']:.2f}x" if t_fwd else "-"
        bwd_x = f"{t_bwd / bwd:.2f}x" if t_bwd and bwd else "-"
        # Forward + backward: both passes' FLOPs (TFLOP/s × ms) over both times.
        both_tf = ((r["forwardTFLOPS"] * r["forwardMs"] + r["backwardTFLOPS"] * bwd) / (r["forwardMs"] + bwd)
                   if bwd and r.get("backwardTFLOPS") else None)
        lines.append(
            f"| {name} | {fmt(r['forwardMs'])} | {r['forwardTFLOPS']:.0f} | {fmt(r.get('predictedForwardMs'))} | "
            f"{fmt(t_fwd)} | {fwd_x} | {fmt(bwd)} | {fmt(r.get('backwardTFLOPS'), 0)} | "
            f"{fmt(r.get('predictedBackwardMs'))} | {fmt(t_bwd)} | {bwd_x} | {fmt(both_tf, 0)} | {fmt(r.get('activationGiB'), 2)} | "
            f"{fmt(both, 2)} | {fmt(t['peak_gib'] if t else None, 2)} | {fmt(r.get('smClockMHz'), 0)} | "
            f"{fmt(r.get('powerWatts'), 0)} | {ratio(r['forwardTFLOPS'], sonic[0])} | "
            f"{ratio(r.get('backwardTFLOPS'), sonic[1])} | {ratio(r.get('activationGiB'), sonic[2])} |")
    text = "\n".join(lines)
    print(text)
    if out_path:
        open(out_path, "w").write(text + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
