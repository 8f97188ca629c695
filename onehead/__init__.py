"""onehead: one network whose single shared head segments, detects and classifies, learnt task after task.

The package is what the DVC stages (`stages/*.py`) and the user commands (`predict`, the grading command,
`data.manifest`, `compare`) run; the README lists its modules.
"""
