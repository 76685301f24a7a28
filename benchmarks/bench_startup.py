"""Start-up of the apps: ``--help`` and a config error (an unknown key), each app side by side with the import
of torch alone -- the cost the apps keep off these paths (issue 12: both answer in < 3 s).

    uv run python benchmarks/bench_startup.py [--repeat 3] [apps ...]

Each command runs in a fresh interpreter (``sys.executable``, as ``uv run`` would start it, without uv's own
start-up); the best of ``--repeat`` rounds is printed, the commands interleaved round by round. The last column is
the time relative to ``import torch``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAD_CONFIG = {
    "align": ["bogus_key=1"],
    "embed": ["bogus_key=1"],
    "finetune": ["--config", "apps/configs/finetune/function_caller/go_bp.yaml", "bogus_key=1"],
    "predict": ["bogus_key=1"],
    "pretrain": ["bogus_key=1"],
    "score": ["bogus_key=1"],
}


def seconds(command: list[str], expected: int) -> float:
    """Wall time of one run of ``command``, which must exit with ``expected``."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != expected:
        sys.exit(
            f"{' '.join(command)}: exit {result.returncode}, expected {expected}\n{result.stderr[-1000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="*", help=f"default: every app ({', '.join(sorted(BAD_CONFIG))})")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    unknown = sorted(set(args.apps) - set(BAD_CONFIG))
    if unknown:
        parser.error(f"unknown app(s): {', '.join(unknown)}")
    python = sys.executable
    commands: dict[str, tuple[list[str], int]] = {
        "python -c pass": ([python, "-c", "pass"], 0),
        "python -c 'import torch'": ([python, "-c", "import torch"], 0),
    }
    for app in args.apps or sorted(BAD_CONFIG):
        script = str(ROOT / "apps" / f"{app}.py")
        commands[f"{app} --help"] = ([python, script, "--help"], 0)
        commands[f"{app} config error"] = ([python, script, *BAD_CONFIG[app]], 2)
    best = {name: float("inf") for name in commands}
    for _ in range(max(1, args.repeat)):
        for name, (command, expected) in commands.items():
            best[name] = min(best[name], seconds(command, expected))
    torch_s = best["python -c 'import torch'"]
    print(f"best of {args.repeat} interleaved rounds; torch {torch_s:.2f} s to import")
    print(f"{'command':<30}{'seconds':>10}{'/ import torch':>16}")
    for name, t in best.items():
        print(f"{name:<30}{t:>10.2f}{t / torch_s:>16.2f}")
    slow = [name for name in best if " " in name and not name.startswith("python") and best[name] >= 3.0]
    print("all under 3 s" if not slow else f"3 s or more: {', '.join(slow)}")


if __name__ == "__main__":
    main()
