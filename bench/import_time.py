"""Cold-start import time of each Lambda handler (`make bench-imports`).

For each module in costguard.handlers, runs `python -X importtime -c "import costguard.handlers.<name>"` in a
fresh interpreter several times and reports the median cumulative import time of that top module (what the
Lambda init phase pays before the first event). Goal: at most 0.25 s each; exits 1 when one is slower.

    python bench/import_time.py [--runs 7] [--goal 0.25]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "functions" / "costguard" / "handlers"
GOAL_SECONDS = 0.25
# "import time:   self [us] | cumulative | imported package"
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S.*)$")


def handler_modules(directory: Path = HANDLERS) -> list[str]:
    # Entry points only: a module that defines `def handler(` (helpers such as tracing.py are not Lambdas).
    return sorted(
        f"costguard.handlers.{p.stem}"
        for p in directory.glob("*.py")
        if p.stem != "__init__" and "\ndef handler(" in p.read_text()
    )


def cumulative_seconds(stderr: str, module: str) -> float:
    """The cumulative time of `module` itself in -X importtime output (it is listed after its imports)."""
    for line in reversed(stderr.splitlines()):
        match = _LINE.match(line)
        if match and match[3].strip() == module:
            return int(match[2]) / 1_000_000
    raise ValueError(f"{module} not in the -X importtime output")


def measure(module: str, runs: int) -> list[float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "PYTHONDONTWRITEBYTECODE": "",
        "POWERTOOLS_SERVICE_NAME": "costguard",
        "POWERTOOLS_METRICS_NAMESPACE": "Costguard",
        "POWERTOOLS_TRACER_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # One warm-up run writes the .pyc files, as the Lambda asset's would be on a warm file cache.
    samples = []
    for n in range(runs + 1):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        if n:
            samples.append(cumulative_seconds(result.stderr, module))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="handler import times")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--goal", type=float, default=GOAL_SECONDS)
    args = parser.parse_args(argv)
    print(f"{'handler':<42} {'median s':>9} {'min s':>7} {'max s':>7}  goal <= {args.goal:.2f} s")
    slow = []
    for module in handler_modules():
        samples = measure(module, args.runs)
        median = statistics.median(samples)
        flag = "ok" if median <= args.goal else "SLOW"
        print(f"{module:<42} {median:9.3f} {min(samples):7.3f} {max(samples):7.3f}  {flag}")
        if median > args.goal:
            slow.append(module)
    print(f"({args.runs} fresh interpreters each, python {sys.version.split()[0]}, -X importtime cumulative)")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
