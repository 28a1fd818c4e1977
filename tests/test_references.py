"""Citations and cross-references read the same on the website, in Colab and in JupyterLab.

MyST roles and directives ({footcite}, {term}, {doc}, admonitions, ...) render only on the website; Colab and
JupyterLab show them as raw text. The chapters therefore cite with plain Markdown links, checked against
book/references.bib by scripts/write_references.py, and fold exercise solutions into HTML <details>.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("write_references", ROOT / "scripts" / "write_references.py")
wr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wr)

ROLE = re.compile(r"\{[a-z][a-z:-]*\}`")  # {cite}`x`, {term}`x`, {doc}`x`, {ref}`x`, {numref}`x`, {eq}`x`
DIRECTIVE = re.compile(r"^\s*(```+|:::+)\s*\{", re.M)  # ```{note}, :::{admonition}, ```{footbibliography}
TARGET = re.compile(r"^\(\S+\)=\s*$", re.M)  # (label)=


def markdown_of(chapter):
    notebook = json.loads(chapter.read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"]


@pytest.mark.parametrize("chapter", wr.CHAPTERS, ids=lambda path: path.stem)
def test_chapters_use_no_syntax_that_only_the_website_renders(chapter):
    for text in markdown_of(chapter):
        for pattern in (ROLE, DIRECTIVE, TARGET):
            found = pattern.search(text)
            assert found is None, f"{chapter.name}: {text[max(found.start() - 40, 0):found.end() + 40]!r}"


@pytest.mark.slow
def test_every_citation_label_and_reference_list_matches_the_bibliography():
    assert wr.main(["--check"]) == 0


def test_every_chapter_cites_and_lists_what_it_cites():
    works = wr.load_works()
    for chapter in wr.CHAPTERS:
        texts = markdown_of(chapter)
        body = "\n".join(texts[:-1] + [texts[-1].split(wr.HEADING)[0]])
        listing = texts[-1].split(wr.HEADING)[1]
        cited = {work.key for _, work in wr.citations(body, works)}
        assert cited, f"{chapter.name} cites nothing"
        listed = {work.key for _, work in wr.citations(listing, works)}
        assert listed == cited, chapter.name


def test_a_wrong_label_and_a_missing_list_are_reported(tmp_path):
    works = wr.load_works()
    pixelcnn = works["https://arxiv.org/abs/1601.06759"]
    assert pixelcnn.labels == {"van den Oord et al., 2016", "van den Oord et al. (2016)"}
    chapter = tmp_path / "chapter.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["As in ([Oord, 2017](https://arxiv.org/abs/1601.06759))."]},
             {"cell_type": "markdown", "metadata": {}, "source": ["## References\n", "\n", "stale"]}]
    chapter.write_text(json.dumps({"cells": cells}))
    problems, notebook = wr.check_and_write(chapter, works)
    assert len(problems) == 1 and "should read 'van den Oord et al. (2016)'" in problems[0]
    assert "".join(notebook["cells"][-1]["source"]) == "## References\n\n" + pixelcnn.reference()
    cells.pop()
    chapter.write_text(json.dumps({"cells": cells}))
    problems, _ = wr.check_and_write(chapter, works)
    assert any("no '## References' heading" in problem for problem in problems)


def test_an_entry_without_an_address_is_an_error(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@misc{nowhere,\n  author = {Doe, Jane},\n  title = {Lost},\n  year = {2020}\n}\n")
    with pytest.raises(ValueError, match="nowhere has neither a url nor a doi"):
        wr.load_works(bib)


def test_reference_lines_resolve_latex():
    works = wr.load_works()
    line = works["https://arxiv.org/abs/1706.03762"].reference()
    assert "Łukasz Kaiser" in line and "{" not in line and line.startswith("- Ashish Vaswani, Noam Shazeer")
    assert works["https://doi.org/10.1002/047174882X"].names == "Cover & Thomas"
