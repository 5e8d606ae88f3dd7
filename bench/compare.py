"""Joins `switchyard bench --json` with the PyTorch baseline's JSON (same GPU run) and prints the ratios.

usage: python3 bench/compare.py SWITCHYARD.json TORCH.json [OUT.md]
"""
import json
import sys


def main(ours_path, torch_path, out_path=None):
    ours = {r["config"]: r for r in json.load(open(ours_path))}
    theirs = {r["config"]: r for r in json.load(open(torch_path))}
    lines = ["| config | switchyard fwd ms | TFLOP/s | model ms | torch grouped fwd ms | TFLOP/s | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for name, r in ours.items():
        t = theirs.get(name, {}).get("grouped")
        model = r.get("predictedForwardMs")
        model_s = f"{model:.3f}" if model else "-"
        if t:
            lines.append(f"| {name} | {r['forwardMs']:.3f} | {r['forwardTFLOPS']:.0f} | {model_s} | {t['fwd_ms']:.3f} | "
                         f"{t['fwd_tflops']:.0f} | {t['fwd_ms'] / r['forwardMs']:.2f}x |")
        else:
            lines.append(f"| {name} | {r['forwardMs']:.3f} | {r['forwardTFLOPS']:.0f} | {model_s} | - | - | - |")
    text = "\n".join(lines)
    print(text)
    if out_path:
        open(out_path, "w").write(text + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
