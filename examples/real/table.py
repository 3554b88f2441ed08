"""The accuracy table of the stored real runs, from each run's verified metrics.json:

    python examples/real/table.py [runs]

One Markdown row per finished run (pass@1, pass@16, maj@16 and the baselines' prm@16 with
``last``, 95% bootstrap CIs over problems); runs still generating are listed as such.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.store.metrics_file import MetricEntry, read_run_metrics
from harness.store.rundir import RunDir

CONFIGS = Path(__file__).resolve().parent


def cell(entry: MetricEntry | None) -> str:
    if entry is None:
        return "-"
    low, high = entry.ci
    return f"{100 * entry.value:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs")
    print("| run | problems | pass@1 | pass@16 | maj@16 | prm@16 random | prm@16 length |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config in sorted(CONFIGS.glob("*.yaml")):
        path = root / config.stem
        try:
            metrics = read_run_metrics(RunDir.open(path))
        except HarnessError as exc:
            print(f"| {config.stem} | not finished: {str(exc)[:60]} | | | | | |")
            continue
        print(f"| {config.stem} | {metrics.n_problems} | {cell(metrics.get(None, None, 'pass', 1))}"
              f" | {cell(metrics.get(None, None, 'pass', 16))}"
              f" | {cell(metrics.get(None, None, 'maj', 16))}"
              f" | {cell(metrics.get('random', 'last', 'prm', 16))}"
              f" | {cell(metrics.get('length', 'last', 'prm', 16))} |")


if __name__ == "__main__":
    main()
