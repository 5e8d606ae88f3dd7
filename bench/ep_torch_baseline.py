"""torch.distributed baseline for `switchyard ep-bench`: all_to_all_single with the same bytes.

Routing, placement and deduplication reproduce ep-bench exactly (SplitMix64 seeded with 0x5EED + rank, K distinct
experts a token drawn uniformly, contiguous placement, one copy of a token per destination rank), so both move the
same per-peer byte counts. Run, one process per GPU:

    torchrun --standalone --nproc-per-node=2 bench/ep_torch_baseline.py --shape all --dispatch bf16

Prints the median time and GB/s per rank (deduplicated cross-rank bytes / time) of dispatch and combine.
"""
import argparse
import os

# NVLink multicast stays off (it can take a shared host's GPUs out of service); set before NCCL starts.
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
if os.environ["NCCL_NVLS_ENABLE"] != "0":
    raise SystemExit("NCCL_NVLS_ENABLE must be 0")

import torch
import torch.distributed as dist

SHAPES = {  # name: (fixed tokens per rank or None, total tokens, d, E, K)
    "deepseek-v3": (4096, 0, 7168, 256, 8),
    "30B-n512": (None, 32768, 4096, 128, 8),
}
MASK = (1 << 64) - 1


def splitmix64(seed):
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def send_counts(source, tokens, experts, top_k, ranks):
    """Rows rank `source` sends to each rank: each token once per rank that holds one of its K experts."""
    per_rank = experts // ranks
    stream = splitmix64(0x5EED + source)
    counts = [0] * ranks
    for _ in range(tokens):
        chosen = set()
        while len(chosen) < top_k:
            chosen.add(next(stream) % experts)
        for r in {e // per_rank for e in chosen}:
            counts[r] += 1
    return counts


def timed_all_to_all(send_rows, receive_rows, row_bytes, iterations):
    rank = dist.get_rank()
    send = torch.full((max(sum(send_rows) * row_bytes, 1),), 0x3C, dtype=torch.uint8, device="cuda")
    receive = torch.empty((max(sum(receive_rows) * row_bytes, 1),), dtype=torch.uint8, device="cuda")
    in_splits = [n * row_bytes for n in send_rows]
    out_splits = [n * row_bytes for n in receive_rows]
    samples = []
    for i in range(iterations + 3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        dist.barrier()
        start.record()
        dist.all_to_all_single(receive[: sum(out_splits)], send[: sum(in_splits)], out_splits, in_splits)
        end.record()
        end.synchronize()
        seconds = torch.tensor(start.elapsed_time(end) / 1e3, device="cuda")
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)  # the all-to-all takes as long as its slowest rank
        if i >= 3:
            samples.append(seconds.item())
    del rank
    return sorted(samples)[len(samples) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="all", choices=["all", *SHAPES])
    parser.add_argument("--dispatch", default="bf16", choices=["bf16", "fp8"])
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    dist.init_process_group("nccl")
    rank, ranks = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    for name in SHAPES if args.shape == "all" else [args.shape]:
        fixed, total, d, experts, top_k = SHAPES[name]
        tokens = fixed or total // ranks
        counts = [send_counts(s, tokens, experts, top_k, ranks) for s in range(ranks)]
        dispatch_bytes = d + 4 * ((d + 127) // 128) if args.dispatch == "fp8" else 2 * d
        mean_remote = sum(sum(counts[s]) - counts[s][s] for s in range(ranks)) / ranks
        results = []
        for label, row_bytes, send_rows, receive_rows in [
            (f"dispatch {args.dispatch}", dispatch_bytes, counts[rank], [counts[s][rank] for s in range(ranks)]),
            ("combine bf16", 2 * d, [counts[s][rank] for s in range(ranks)], counts[rank]),
        ]:
            seconds = timed_all_to_all(send_rows, receive_rows, row_bytes, args.iterations)
            gbps = mean_remote * row_bytes / seconds / 1e9
            results.append(f"  {label}: {seconds * 1e6:.1f} µs, {gbps:.1f} GB/s per rank (torch all_to_all_single)")
        if rank == 0:
            print(f"{name}: {tokens} tokens a rank, d {d}, E {experts}, top-{top_k}, EP{ranks}, "
                  f"{mean_remote / tokens:.2f} remote copies a token")
            print("\n".join(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
