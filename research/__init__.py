"""Research drivers beside the pipeline: one stage at a time on held-out folds (`trial`), the folds
themselves (`folds`) and scores pooled over folds (`pooled`). No pipeline stage imports them; they
choose settings before a setting becomes a default (docs/experiments/trials.md).

Run them from the repository root: `python -m research.trial …`.
"""
