"""Per-task modules: each owns its channels' loss, evaluation (SPEC §4 metric) and decoding."""
from . import cls, det, seg

TASKS = {"seg": seg, "det": det, "cls": cls}
TASK_ORDER = ("seg", "det", "cls")
PRIMARY_METRIC = {"seg": "miou", "det": "map", "cls": "top1"}

