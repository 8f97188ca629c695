"""report.md and its matplotlib figures, generated from the metrics and logs only."""
