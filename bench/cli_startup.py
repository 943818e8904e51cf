"""Benchmark: how fast `gl-ocm --help` and `gl-ocm --version` start, beside the interpreter's own start.

Each command runs as a new process (a cold start of the interpreter; the file cache is warm), rounds interleaved;
the script prints the median and spread of each and their ratio to the bare interpreter (`python -c pass`) and to
importing the CLI framework alone (`python -c "import typer"`), so the machine's speed cancels out of the ratios.

    .venv/bin/python bench/cli_startup.py [--rounds 21] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

GL_OCM = shutil.which("gl-ocm", path=os.path.dirname(sys.executable)) or "gl-ocm"
COMMANDS = {
    "gl-ocm --help": [GL_OCM, "--help"],
    "gl-ocm --version": [GL_OCM, "--version"],
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
}


def _once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "80"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache and the bytecode caches once
        _once(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            times[name].append(_once(argv))
    medians = {name: statistics.median(t) for name, t in times.items()}
    result = {
        name: {
            "median_s": round(medians[name], 4),
            "min_s": round(min(t), 4),
            "max_s": round(max(t), 4),
            "vs_python": round(medians[name] / medians["python -c pass"], 2),
            "vs_typer": round(medians[name] / medians["python -c 'import typer'"], 2),
        }
        for name, t in times.items()
    }
    if args.json:
        print(json.dumps({"rounds": args.rounds, "results": result}, indent=2))
        return
    print(f"{'command':28} {'median':>8} {'min':>8} {'max':>8} {'÷ python':>9} {'÷ typer':>8}  ({args.rounds} rounds)")
    for name, r in result.items():
        print(f"{name:28} {r['median_s']:8.3f} {r['min_s']:8.3f} {r['max_s']:8.3f} "
              f"{r['vs_python']:9.2f} {r['vs_typer']:8.2f}")


if __name__ == "__main__":
    main()
