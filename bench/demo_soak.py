"""Memory soak of `calarb demo`: the resident memory of the demo (engine) process and of its
venue child, sampled every few seconds from /proc (Linux), compared between a sample after
start-up and the last one before the venue child stops (the acceptance of issue 13: flat within
10%).

    python bench/demo_soak.py --duration 300 --out soak-report

Writes `rss.jsonl` (one line per sample: seconds since the start, RSS in MB per process) and
the demo's report folder under `--out`; prints one JSON object with each process's RSS at
`--after` seconds and at the end and the change in percent; exits 1 when a change is over
`--limit` percent. Run on a quiet machine: the demo needs about one core for itself and one
for its venue child.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of trading")
    parser.add_argument("--after", type=float, default=30.0, help="the start sample (s)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--limit", type=float, default=10.0, help="allowed change (%%)")
    parser.add_argument("--out", type=Path, default=Path("soak-report"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "calarb.cli", "demo", "--duration", str(args.duration),
               "--json", "--report", str(args.out / "report")]  # fmt: skip
    with (args.out / "demo.out").open("w") as out, (args.out / "demo.err").open("w") as err:
        demo = subprocess.Popen(command, stdout=out, stderr=err)
        start = time.monotonic()
        samples = []
        with (args.out / "rss.jsonl").open("w") as log:
            while demo.poll() is None:
                row = {"t": round(time.monotonic() - start, 1), "demo": rss_mb(demo.pid)}
                for child in children(demo.pid):
                    row["venue child"] = rss_mb(child)
                samples.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
                time.sleep(args.interval)
    trading = [row for row in samples if row.get("venue child") is not None]
    if demo.returncode != 0 or not trading:
        print(f"the demo exited {demo.returncode} (see {args.out}/demo.err)", file=sys.stderr)
        return 2
    first = next((row for row in trading if row["t"] >= args.after), trading[0])
    last = trading[-1]
    result: dict[str, object] = {"start_s": first["t"], "end_s": last["t"]}
    flat = True
    for name in ("demo", "venue child"):
        change = 100.0 * (last[name] - first[name]) / first[name]
        flat = flat and abs(change) <= args.limit
        result[name] = {"start_mb": round(first[name], 1), "end_mb": round(last[name], 1),
                        "change_percent": round(change, 1)}  # fmt: skip
    result["flat"] = flat
    print(json.dumps(result, indent=2))
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
