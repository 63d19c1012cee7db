#!/usr/bin/env python3
"""Scores a cargo-mutants run: caught / missed / timeout / unviable, the
caught fraction of viable mutants (timeouts counted as caught: the mutant
made the suite hang, which CI would report), its 95% Wilson interval, and
per-mutant times (build + test), from mutants.out/outcomes.json.

    python3 reports/mutants/score.py path/to/mutants.out
"""
import json
import math
import statistics
import sys


def wilson(caught, n, z=1.96):
    if n == 0:
        return (0.0, 0.0)
    p = caught / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n))


def main(out):
    outcomes = json.load(open(f"{out}/outcomes.json"))["outcomes"]
    kinds = {"CaughtMutant": 0, "MissedMutant": 0, "Timeout": 0, "Unviable": 0}
    times = []
    for o in outcomes:
        if o["scenario"] == "Baseline":
            continue
        kinds[o["summary"]] = kinds.get(o["summary"], 0) + 1
        times.append(sum(p["duration"] for p in o["phase_results"]))
    caught, missed = kinds["CaughtMutant"], kinds["MissedMutant"]
    timeout, unviable = kinds["Timeout"], kinds["Unviable"]
    viable = caught + missed + timeout
    low, high = wilson(caught + timeout, viable)
    print(f"mutants {len(times)}: caught {caught}, missed {missed}, timeout {timeout}, unviable {unviable}")
    print(f"caught (timeouts included) of viable: {caught + timeout}/{viable} = "
          f"{(caught + timeout) / viable:.3f}, 95% Wilson interval [{low:.3f}, {high:.3f}]")
    print(f"seconds a mutant (build + test): mean {statistics.mean(times):.1f}, "
          f"median {statistics.median(times):.1f}, max {max(times):.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mutants.out")
