#!/usr/bin/env python3
"""Scores a cargo-mutants run: caught / missed / timeout / unviable, the
caught fraction of viable mutants (timeouts counted as caught: the mutant
made the suite hang, which CI would report), its 95% Wilson interval, and
per-mutant times (build + test), from mutants.out/outcomes.json. With an
equivalents file (`.ci/mutants-equivalent.txt`), also the fraction with
the survivors it lists (each explained there) left out of the viable.

    python3 reports/mutants/score.py path/to/mutants.out [.ci/mutants-equivalent.txt]
"""
import re
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


def equivalents(path):
    """`file: name` of each mutant the file lists (before its `#` reason)."""
    listed = set()
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            listed.add(line)
    return listed


def without_position(name):
    """`core/src/x.rs:12:5: replace ...` as `core/src/x.rs: replace ...`."""
    return re.sub(r"^([^:]+):\d+:\d+:", r"\1:", name)


def main(out, equivalent_file=None):
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
    if equivalent_file:
        listed = equivalents(equivalent_file)
        missed_names = [line.strip() for line in open(f"{out}/missed.txt") if line.strip()]
        known = [m for m in missed_names if without_position(m) in listed]
        n = viable - len(known)
        low, high = wilson(caught + timeout, n)
        print(f"survivors listed as equivalent: {len(known)}; caught of the rest of viable: "
              f"{caught + timeout}/{n} = {(caught + timeout) / n:.3f}, "
              f"95% Wilson interval [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mutants.out",
         sys.argv[2] if len(sys.argv) > 2 else None)
