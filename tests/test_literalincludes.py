"""Every ``literalinclude`` of the book names a file and an object that exist.

The book build fails on a missing one too, but only after executing every
chapter; this test says which reference broke in a fraction of a second.
"""

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"\{literalinclude\} (\S+)\n:pyobject: (\S+)")


def sources():
    for path in sorted(REPO.glob("chapters/*.ipynb")):
        yield path, "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    for path in sorted(REPO.glob("book/*.md")):
        yield path, path.read_text()


REFERENCES = [(path, *match.groups()) for path, text in sources() for match in INCLUDE.finditer(text)]


def defines(tree_body, dotted):
    body = tree_body
    for part in dotted.split("."):
        found = [node for node in body if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == part]
        if not found:
            return False
        body = found[0].body
    return True


def test_the_book_includes_code():
    assert len(REFERENCES) > 30


@pytest.mark.parametrize("where, target, name", REFERENCES,
                         ids=[f"{p.name}:{n}" for p, _, n in REFERENCES])
def test_literalinclude_names_an_existing_object(where, target, name):
    source = (where.parent / target).resolve()
    assert source.is_file(), f"{where.name} includes {target}, which does not exist"
    assert defines(ast.parse(source.read_text()).body, name), f"{where.name} includes {name}, not defined in {target}"
