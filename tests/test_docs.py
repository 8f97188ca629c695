"""The docs hold together: a short README, every experiment file in the index, every link resolves."""
import re

from conftest import REPO

DOCS = REPO / "docs" / "experiments"


def links(path):
    return [m.group(1) for m in re.finditer(r"\]\(([^)#\s]+)", path.read_text()) if not m.group(1).startswith("http")]


def test_readme_is_short_and_needs_no_course_folder():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert "../shared" not in text and "SPEC.md" not in text


def test_every_experiment_file_has_an_index_row():
    indexed = set(links(DOCS / "README.md"))
    files = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert files and files <= indexed


def test_every_relative_link_resolves():
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    broken = [(page.name, target) for page in pages for target in links(page) if not (page.parent / target).exists()]
    assert not broken


def test_params_comments_give_meaning_not_history():
    comments = [line.split("#", 1)[1] for line in (REPO / "params.yaml").read_text().splitlines() if "#" in line]
    assert comments and not [c for c in comments if "→" in c or re.search(r"[+−-]\d+(\.\d+)? ?%", c)]
