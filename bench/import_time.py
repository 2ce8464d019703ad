"""Cold import time of functions/main.py: a fresh interpreter per run, best and median of N.

    functions/venv/bin/python bench/import_time.py [--runs 5]

Measured for an HTTP function's instance (FUNCTION_TARGET=models), the
trigger's instance, and deploy discovery (no target: everything).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
PROBE = "import time; t = time.perf_counter(); import main; print((time.perf_counter() - t) * 1000)"


def measure(target: str | None, runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "FUNCTION_TARGET"}
    if target:
        env["FUNCTION_TARGET"] = target
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE], cwd=FUNCTIONS, env=env, capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for label, target in (("http function (models)", "models"), ("trigger (audit_model_edits)", "audit_model_edits"), ("discovery (no target)", None)):
        times = measure(target, args.runs)
        print(f"{label:<30} best {min(times):6.1f} ms   median {statistics.median(times):6.1f} ms   (n={len(times)})")


if __name__ == "__main__":
    main()
