"""colab.ipynb is valid nbformat, only calls commands and files that exist in the repo, keeps the
runtime's torch when it fits and fetches from the official hosts by default."""
import shlex

import nbformat

from conftest import REPO

ALLOWED = {"bash", ".venv/bin/python", "git", "pip"}


def shell_lines():
    nb = nbformat.read(REPO / "colab.ipynb", as_version=4)
    nbformat.validate(nb)
    return [line.strip()[1:] for cell in nb.cells if cell.cell_type == "code"
            for line in cell.source.splitlines() if line.strip().startswith("!")]


def code_text():
    nb = nbformat.read(REPO / "colab.ipynb", as_version=4)
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def test_notebook_is_valid_and_runs_the_pipeline():
    lines = shell_lines()
    assert any("dvc repro" in line for line in lines)
    assert "bash scripts/setup.sh --system-torch" in lines  # the runtime's torch, when it fits


def test_notebook_fetches_from_the_official_hosts_by_default():
    assert "DATA_SOURCE = 'official'" in code_text()
    assert "params['data']['source'] = DATA_SOURCE" in code_text()


def test_runtime_torch_fits_only_from_the_minimum_versions():
    import importlib.util

    spec = importlib.util.spec_from_file_location("torch_fits", REPO / "scripts" / "torch_fits.py")
    fits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fits)
    assert fits.release("2.8.0+cu126") == (2, 8) and fits.release("0.23.0a0") == (0, 23)
    assert fits.problems({"torch": "2.8.0+cu126", "torchvision": "0.23.0+cu126"}) == []
    assert fits.problems({"torch": "2.3.1", "torchvision": None}) == [
        "torch 2.3.1 is older than 2.4", "torchvision is not installed"]


def test_notebook_commands_exist():
    for line in shell_lines():
        words = shlex.split(line)
        assert words[0] in ALLOWED, line
        for word in words[1:]:
            if word.endswith((".sh", ".py")) and "/" in word:
                assert (REPO / word).is_file(), f"{line}: {word} not in the repo"
        if words[:3] == [".venv/bin/python", "-m", "dvc"]:
            assert words[3] in {"repro", "metrics", "plots", "exp", "status"}, line
