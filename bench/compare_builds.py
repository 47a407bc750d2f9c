#!/usr/bin/env python3
"""Two builds of tessera side by side, taking turns: engine ms per tile and training s per
step, each build's median and the ratio NEW/OLD (median of per-round ratios). For showing
that a change leaves speed as it was (or how it moved it).

    bench/compare_builds.py OLD_TESSERA NEW_TESSERA [--rounds 9] [--models effunet-b0,...]
                            [--train-models effunet-b0] [--threads 2]

Both builds run `bench engine --serve` (and `bench train --serve`) at once, one tile (step)
at a time in turn, so the machine's drift falls on both alike. Prints the CPU model.
"""
import argparse, json, statistics, subprocess

from machine import cpu_model


class Server:
    """A `tessera bench … --serve` process: one timed unit per line written to it."""

    def __init__(self, argv):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.header = json.loads(self.process.stdout.readline())

    def time(self, key):
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())[key]

    def close(self):
        self.process.stdin.close()
        tail = self.process.stdout.read()
        self.process.wait()
        return tail


def compare(name, make, key, rounds, unit):
    old, new = Server(make(0)), Server(make(1))
    pairs = []
    try:
        for r in range(rounds):
            # Alternate who goes first, so neither always follows the other.
            first, second = (old, new) if r % 2 == 0 else (new, old)
            a, b = first.time(key), second.time(key)
            pairs.append((a, b) if first is old else (b, a))
    finally:
        old.close(), new.close()
    o = statistics.median(p[0] for p in pairs)
    n = statistics.median(p[1] for p in pairs)
    ratios = sorted(p[1] / p[0] for p in pairs)
    print(f"{name}: old {o:.3g} {unit}, new {n:.3g} {unit}, new/old {statistics.median(ratios):.3f} "
          f"(rounds {rounds}, range {ratios[0]:.3f}–{ratios[-1]:.3f})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--models", default="effunet-b0,effunet-b5,unext50")
    parser.add_argument("--train-models", default="effunet-b0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tile", type=int, default=512)
    args = parser.parse_args()
    builds = [args.old, args.new]
    print(f"CPU: {cpu_model()}; {args.threads} threads; builds take turns", flush=True)
    for model in filter(None, args.models.split(",")):
        compare(f"engine {model} {args.tile}²",
                lambda i: [builds[i], "bench", "engine", "--serve", "--models", model, "--tile", str(args.tile),
                           "--threads", str(args.threads)], "ms", args.rounds, "ms/tile")
    for model in filter(None, args.train_models.split(",")):
        compare(f"training step {model}",
                lambda i: [builds[i], "bench", "train", "--serve", "--model", model, "--threads", str(args.threads)],
                "s", args.rounds, "s/step")


if __name__ == "__main__":
    main()
