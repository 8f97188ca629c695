"""Markdown tables, for report.md and for the comparison of experiments (`onehead.compare`)."""
from __future__ import annotations


def table(columns: list[str], rows: list[list]) -> str:
    """A markdown table: the header of `columns`, then one line per row (each cell as `str`)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
