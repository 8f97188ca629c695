"""Per-task modules, one file each, with the same functions: `loss`, `evaluate` (the docs/spec.md §4
metric), `distillation` (student vs teacher outputs of the task) and `classes_present`."""
from ..catalog import TASK_ORDER
from . import cls, det, seg

TASKS = {"seg": seg, "det": det, "cls": cls}
assert tuple(TASKS) == TASK_ORDER
