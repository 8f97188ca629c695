"""dvc.yaml's code deps are exactly the onehead modules each stage's script imports (transitively):
a code change re-runs every stage whose outputs it can change, and no other stage."""
import ast
from pathlib import Path

import pytest
import yaml

from conftest import REPO

STAGES = {name: stage.get("do", stage) for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items()}


def module_file(name: str) -> Path | None:
    """The file of module `name` if it belongs to onehead."""
    if name.split(".")[0] != "onehead":
        return None
    base = REPO.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def package_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1]) if path.name != "__init__.py" else ".".join(parts[:-1])


def imports_of(path: Path) -> set[str]:
    """Every module an `import` statement of `path` can load, wherever the statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package_of(path).split(".")[: len(package_of(path).split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def closure(script: Path) -> set[str]:
    """Repo-relative files of the onehead modules `script` loads, package __init__ files included."""
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        for name in imports_of(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                file = module_file(".".join(parts[:i]))
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return {f.relative_to(REPO).as_posix() for f in seen}


def code_deps(stage: dict) -> list[str]:
    return [d for d in stage.get("deps", []) if d.startswith("onehead/")]


def covered(file: str, deps: list[str]) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_every_imported_module(name):
    stage = STAGES[name]
    script = next(tok for tok in stage["cmd"].split() if tok.endswith(".py"))
    assert script in stage["deps"], f"{name}: its script {script} is not a dep"
    missing = sorted(f for f in closure(REPO / script) if not covered(f, stage["deps"]))
    assert not missing, f"{name}: dvc.yaml deps lack modules its script imports: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_list_nothing_it_does_not_import(name):
    stage = STAGES[name]
    script = next(tok for tok in stage["cmd"].split() if tok.endswith(".py"))
    used = closure(REPO / script)
    unused = []
    for dep in code_deps(stage):
        path = REPO / dep
        modules = sorted(p.relative_to(REPO).as_posix() for p in path.rglob("*.py")) if path.is_dir() else [dep]
        unused += [m for m in modules if m.endswith(".py") and m not in used]
        assert path.exists(), f"{name}: dep {dep} does not exist"
    assert not unused, f"{name}: dvc.yaml deps list modules its script never imports: {unused}"


def test_closure_follows_relative_and_function_level_imports():
    grade = closure(REPO / "stages" / "evaluate.py")
    assert {"onehead/grade.py", "onehead/evaluation.py", "onehead/tasks/det.py", "onehead/__init__.py"} <= grade
    assert "onehead/report/build.py" not in grade and "onehead/strategies/lwf.py" not in grade


if __name__ == "__main__":  # print each stage's modules, to paste into dvc.yaml
    for stage_name, stage in STAGES.items():
        script = next(tok for tok in stage["cmd"].split() if tok.endswith(".py"))
        print(stage_name, *sorted(closure(REPO / script)), sep="\n  - ")
