"""The package stays easy to read: short functions with few parameters, and no module that nothing runs."""
import ast
import re

from conftest import REPO

PACKAGE = REPO / "onehead"
MAX_LINES, MAX_PARAMS = 40, 7


def functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(REPO), node


def parameter_count(node) -> int:
    a = node.args
    names = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
    return len([n for n in names if n.arg not in ("self", "cls")])


def test_no_function_is_long_or_wide():
    long = [f"{path}:{node.name}" for path, node in functions() if node.end_lineno - node.lineno + 1 > MAX_LINES]
    wide = [f"{path}:{node.name}" for path, node in functions() if parameter_count(node) > MAX_PARAMS]
    assert not long and not wide


def module_name(path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_is_imported_or_run_as_a_command():
    sources = [*PACKAGE.rglob("*.py"), *(REPO / "stages").glob("*.py")]
    text = {path: path.read_text() for path in sources}
    unused = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if path.name == "__init__.py" or '__name__ == "__main__"' in text[path]:
            continue
        leaf = name.rsplit(".", 1)[1]
        pattern = re.compile(rf"from (\.+|onehead\.)([\w]+\.)*{leaf}\b|import onehead\.([\w]+\.)*{leaf}\b"
                             rf"|from (\.+|onehead)[\w.]* import [^\n]*\b{leaf}\b")
        if not any(pattern.search(source) for other, source in text.items() if other != path):
            unused.append(name)
    assert not unused
