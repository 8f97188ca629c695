"""The short results table printed at the end of the evaluate and report stages: per metric its
single-task reference, stage-end baseline, final value, relative drop and pass; then size and speed."""
from __future__ import annotations

from pathlib import Path

from .catalog import METRICS
from .cli import user_errors
from .io import read_json


def print_summary(s: dict) -> None:
    """`s`: the contents of metrics/evaluate.json."""
    print(f"{'metric':<8}{'reference':>10}{'baseline':>10}{'final':>10}{'drop %':>10}  pass")
    for m in METRICS:
        rel = s["drop_rel_pct"][m]
        ok = s["pass"].get(m, "")
        print(f"{m:<8}{s['reference'][m]:>10.4f}{s['baseline'][m]:>10.4f}{s['final'][m]:>10.4f}"
              f"{(f'{rel:.2f}' if rel is not None else 'n/a'):>10}  {ok}")
    print(f"params {s['params']['total']:,}  latency cpu {s['latency_ms']['cpu_512']} ms  "
          f"train {s['train_time_s']['total']} s  all pass: {s['pass']['all']}")


def main() -> None:
    """`python -m onehead.summary`: the table of the run in metrics/, and where its report is."""
    with user_errors("summary"):
        print_summary(read_json(Path("metrics") / "evaluate.json", "evaluate metrics (run `dvc repro`)"))
        print("report: report.md (figures in plots/report/)")


if __name__ == "__main__":
    main()
