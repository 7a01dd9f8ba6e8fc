#!/usr/bin/env python3
"""Kernel (or operator) table of Chrome traces written by `fluxion bench --profile` and by
`sit_pytorch_baseline.py --profile` (torch.profiler), side by side, so that the two can be
compared name by name (issue 13).

  trace_table.py TRACE.json[.gz] [TRACE2.json ...] [--category kernel|cpu_op|all] [--top 25]
      [--per N]   divide times by N (the number of profiled iterations) for per-iteration figures

Per trace: total time of the category, event count, then the top names by total duration
(microseconds), count and share. Kernel names are cut at the first '(' or '<' to group template
instances."""
import argparse
import collections
import gzip
import json
import re


def load(path):
    # gpu_session.sh gzips the traces it brings back
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def short(name):
    return re.split(r"[(<]", name, maxsplit=1)[0].strip() or name


def table(path, category, top, per):
    totals, counts = collections.Counter(), collections.Counter()
    for e in load(path):
        if e.get("ph") != "X" or "dur" not in e:
            continue
        cat = e.get("cat", "")
        if category != "all" and cat != category:
            continue
        name = short(e.get("name", "?"))
        totals[name] += float(e["dur"]) / per
        counts[name] += 1
    total = sum(totals.values())
    print(f"== {path}: {category}, {sum(counts.values()) / per:.0f} events, {total:.0f} us" +
          (f" per iteration (/{per})" if per != 1 else ""))
    print(f"{'us':>10} {'share':>6} {'count':>7}  name")
    for name, us in totals.most_common(top):
        print(f"{us:>10.1f} {100 * us / max(total, 1e-9):>5.1f}% {counts[name] / per:>7.0f}  {name[:100]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--category", default="kernel", help="kernel (CUDA), cpu_op, or all")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--per", type=float, default=1.0)
    a = ap.parse_args()
    for path in a.traces:
        table(path, a.category, a.top, a.per)


if __name__ == "__main__":
    main()
