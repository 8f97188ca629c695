"""colab.ipynb is valid nbformat and only calls commands and files that exist in the repo."""
import shlex

import nbformat

from conftest import REPO

ALLOWED = {"bash", ".venv/bin/dvc", ".venv/bin/python", "git", "pip"}


def shell_lines():
    nb = nbformat.read(REPO / "colab.ipynb", as_version=4)
    nbformat.validate(nb)
    return [line.strip()[1:] for cell in nb.cells if cell.cell_type == "code"
            for line in cell.source.splitlines() if line.strip().startswith("!")]


def test_notebook_is_valid_and_runs_the_pipeline():
    lines = shell_lines()
    assert any("dvc repro" in line for line in lines)
    assert any("scripts/setup.sh" in line for line in lines)


def test_notebook_commands_exist():
    for line in shell_lines():
        words = shlex.split(line)
        assert words[0] in ALLOWED, line
        for word in words[1:]:
            if word.endswith((".sh", ".py")) and "/" in word:
                assert (REPO / word).is_file(), f"{line}: {word} not in the repo"
        if words[0] == ".venv/bin/dvc":
            assert words[1] in {"repro", "metrics", "plots", "exp", "status"}, line
