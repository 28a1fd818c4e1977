"""The set-up cell that installs the library in Colab: one cell, the same in every chapter, pinned, never prompting.

The repository's address is written in ``_config.yml`` (the website's
repository button); the cells, the README's Colab badges and the package
metadata must agree with it, and the pinned version with the package's.
"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import pixelcnn_lib as pl

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(REPO.glob("chapters/*.ipynb"))
URL = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def setup_cell(path):
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    return code[0]


SOURCE = "".join(setup_cell(CHAPTERS[0])["source"])


def assignment(name):
    match = re.search(rf'^{name} = "([^"]*)"$', SOURCE, re.M)
    assert match, f"the set-up cell assigns no {name}"
    return match.group(1)


def test_one_set_up_cell_in_every_chapter_hidden_on_the_website():
    assert len(CHAPTERS) == 5
    for path in CHAPTERS:
        cell = setup_cell(path)
        assert "".join(cell["source"]) == SOURCE, f"{path.name}: its set-up cell differs from {CHAPTERS[0].name}'s"
        assert cell["metadata"].get("tags") == ["remove-cell"], f"{path.name}: the set-up cell is not remove-cell"


def test_the_repository_is_named_in_one_place():
    assert URL.startswith("https://github.com/")
    assert assignment("BOOK_REPOSITORY") == URL
    assert PROJECT["urls"]["Repository"] == URL
    readme = (REPO / "README.md").read_text()
    badges = re.findall(r"https://colab\.research\.google\.com/github/([^)\s]+)", readme)
    assert sorted(badges) == sorted(f"{URL.removeprefix('https://github.com/')}/blob/main/chapters/{p.name}"
                                    for p in CHAPTERS)


def test_the_pinned_version_is_the_package_version():
    """The version is written once, in ``pixelcnn_lib.__version__``; the package metadata reads it from there, and
    the chapters' Colab set-up installs that version."""
    from importlib.metadata import version

    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "pixelcnn_lib.__version__"}
    assert assignment("BOOK_VERSION") == version("pixelcnn_lib") == pl.__version__
    assert 'f"pixelcnn_lib[all] @ git+{BOOK_REPOSITORY}@v{BOOK_VERSION}"' in SOURCE  # with its extras
    assert '"GIT_TERMINAL_PROMPT": "0"' in SOURCE


def run_cell(source, library_present):
    """Run the cell in a fresh interpreter, as if the library were (not) installed."""
    driver = (
        "import importlib.util, subprocess\n"
        "real = importlib.util.find_spec\n"
        f"importlib.util.find_spec = lambda name, *a: (real(name, *a) if {library_present} or name != 'pixelcnn_lib'"
        " else None)\n"
        "if {library_present}:\n"
        "    def refuse(*a, **k): raise AssertionError('the cell ran pip although the library is installed')\n"
        "    subprocess.run = refuse\n"
    ).replace("{library_present}", str(library_present))
    return subprocess.run([sys.executable, "-c", driver + source], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def test_the_cell_does_nothing_where_the_library_is_installed():
    result = run_cell(SOURCE, library_present=True)
    assert result.returncode == 0, result.stderr


def test_a_failed_install_says_what_to_do_and_does_not_prompt(tmp_path):
    missing = (tmp_path / "no-such-repository").as_uri()
    source = SOURCE.replace(f'BOOK_REPOSITORY = "{URL}"', f'BOOK_REPOSITORY = "{missing}"')
    assert source != SOURCE
    result = run_cell(source, library_present=False)
    assert result.returncode != 0
    assert "Could not install the book's library" in result.stderr
    assert f"pip install 'pixelcnn_lib[all] @ git+{missing}@v{pl.__version__}'" in result.stderr
