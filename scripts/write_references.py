"""Each chapter's reference list, written from book/references.bib.

The chapters cite in plain Markdown, so that a citation reads the same on the website, in Colab and in
JupyterLab (a MyST role such as {footcite:p} shows as raw text outside the website):

* in parentheses: ``([van den Oord et al., 2016](https://arxiv.org/abs/1601.06759))``, several works
  separated by "; ";
* in the text: ``[van den Oord et al. (2016)](https://arxiv.org/abs/1601.06759)``.

A link counts as a citation when its address is an entry's url (or https://doi.org/ + its doi). This script
checks every citation's label against the entry (the authors' last names and the year), and rewrites the list
under the ``## References`` heading of each chapter's last cell from the works the chapter cites, in order of
first citation.

    python scripts/write_references.py          # rewrite the lists
    python scripts/write_references.py --check  # exit 1 if a label is wrong or a list is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pybtex.database import parse_file
from pybtex.richtext import Text

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
HEADING = "## References\n"
LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def plain(latex):
    """LaTeX text of a bib field -> plain text (accents resolved, braces dropped)."""
    return Text.from_latex(latex).render_as("text")


def last_name(person):
    return " ".join(plain(part) for part in person.prelast_names + person.last_names)


def full_name(person):
    first = " ".join(plain(part) for part in person.first_names + person.middle_names)
    return f"{first} {last_name(person)}".strip()


class Work:
    """One bib entry: its address, its citation labels and its line in a reference list."""

    def __init__(self, key, entry):
        self.key = key
        fields = entry.fields
        self.year = fields["year"]
        if "url" in fields:
            self.address = fields["url"]
        elif "doi" in fields:
            self.address = "https://doi.org/" + fields["doi"]
        else:
            raise ValueError(f"{BIB.name}: entry {key} has neither a url nor a doi")
        self.authors = entry.persons["author"]
        self.title = plain(fields["title"])
        venue = next((fields[name] for name in ("booktitle", "journal", "institution", "publisher", "howpublished")
                      if name in fields), None)
        if venue is None and "eprint" in fields:
            venue = f"arXiv:{fields['eprint']}"
        self.venue = plain(venue) if venue else None

    @property
    def names(self):
        last = [last_name(person) for person in self.authors]
        if len(last) == 1:
            return last[0]
        if len(last) == 2:
            return f"{last[0]} & {last[1]}"
        return f"{last[0]} et al."

    @property
    def labels(self):
        """The labels a citation of this work may carry: in parentheses, or in the text."""
        return {f"{self.names}, {self.year}", f"{self.names} ({self.year})"}

    def reference(self):
        names = [full_name(person) for person in self.authors]
        authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        line = f"- {authors} ({self.year}). [{self.title}]({self.address})."
        return line + (f" *{self.venue}*." if self.venue else "")


def load_works(path=BIB):
    works = [Work(key, entry) for key, entry in parse_file(str(path)).entries.items()]
    by_address = {}
    for work in works:
        if work.address in by_address:
            raise ValueError(f"{path.name}: {by_address[work.address].key} and {work.key} share {work.address}")
        by_address[work.address] = work
    return by_address


def markdown_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "markdown"]


def citations(text, works):
    """[(label, work)] for every link in ``text`` whose address is a work's."""
    return [(label, works[address]) for label, address in LINK.findall(text) if address in works]


def check_and_write(chapter, works):
    """Problems found in one chapter, and the notebook with its reference list rewritten."""
    notebook = json.loads(chapter.read_text())
    cells = markdown_cells(notebook)
    problems, cited = [], []
    for cell in cells:
        source = "".join(cell["source"])
        body = source.split(HEADING)[0]
        for label, work in citations(body, works):
            if label not in work.labels:
                problems.append(f"{chapter.name}: [{label}]({work.address}) should read "
                                f"'{sorted(work.labels)[0]}' or '{sorted(work.labels)[1]}'")
            if work not in cited:
                cited.append(work)
    last = cells[-1]
    source = "".join(last["source"])
    if HEADING not in source:
        problems.append(f"{chapter.name}: the last markdown cell has no '{HEADING.strip()}' heading")
        return problems, notebook
    listing = "\n".join(work.reference() for work in cited) if cited else "This chapter cites no other work."
    text = source.split(HEADING)[0] + HEADING + "\n" + listing
    last["source"] = text.splitlines(keepends=True)
    return problems, notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    works = load_works()
    failed = False
    for chapter in CHAPTERS:
        problems, notebook = check_and_write(chapter, works)
        written = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        for problem in problems:
            print(problem, file=sys.stderr)
        failed |= bool(problems)
        if written != chapter.read_text():
            if args.check:
                print(f"{chapter.name}: the reference list is out of date: run {Path(__file__).name}",
                      file=sys.stderr)
                failed = True
            else:
                chapter.write_text(written)
                print(f"wrote the references of {chapter.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
