#!/usr/bin/env python3
"""PyTorch's gloo all-reduce on loopback: the reference `tessera bench allreduce --gloo`
measures beside its own ring. N processes (torch.multiprocessing), one float32 tensor of
COUNT values, a warm-up, then ROUNDS timed all-reduces, each after a barrier; a round's
time is the slowest member's. Prints one JSON object: {"members", "count", "seconds": [...]}.

    bench/allreduce_gloo.py MEMBERS COUNT ROUNDS [THREADS]
"""
import json, os, sys, time


def member(rank, members, count, rounds, port, threads, queue):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=members)
    tensor = torch.full((count,), float(rank), dtype=torch.float32)
    dist.all_reduce(tensor)  # warm-up: connections made
    times = []
    for _ in range(rounds):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(tensor)
        times.append(time.perf_counter() - start)
    queue.put((rank, times))
    dist.barrier()
    dist.destroy_process_group()


def main():
    members, count, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=member, args=(r, members, count, rounds, port, threads, queue)) for r in range(members)]
    for p in processes:
        p.start()
    results = dict(queue.get() for _ in range(members))
    for p in processes:
        p.join()
    seconds = [max(results[r][i] for r in range(members)) for i in range(rounds)]
    print(json.dumps({"members": members, "count": count, "seconds": seconds}))


if __name__ == "__main__":
    main()
