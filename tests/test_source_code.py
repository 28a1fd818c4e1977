"""The chapters show the library's code through ``pl.show_source`` cells, never website-only directives.

Every listing a chapter asks for must resolve to an object of the library
(a broken name is reported here in seconds, not after executing the book).
"""

import ast
import json
from pathlib import Path

import pytest
import tensorflow as tf

import pixelcnn_lib as pl
from pixelcnn_lib.teaching.source_code import SourceListing, resolve

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(REPO.glob("chapters/*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def listing_calls():
    """(chapter, positional args, keyword args) of every ``pl.show_source(...)`` in a code cell."""
    for path in CHAPTERS:
        for cell in cells(path):
            if cell["cell_type"] != "code":
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]).replace("%matplotlib inline", ""))):
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "pl.show_source":
                    args = [ast.literal_eval(a) for a in node.args]
                    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
                    yield path, args, kwargs


CALLS = list(listing_calls())


def test_no_chapter_uses_a_listing_only_the_website_renders():
    for path in [*CHAPTERS, *REPO.glob("book/*.md")]:
        text = path.read_text()
        assert "{literalinclude}" not in text, f"{path.name} uses literalinclude, which Colab shows as raw text"


def test_the_book_shows_code():
    assert len(CALLS) > 30


@pytest.mark.parametrize("where, args, kwargs", CALLS, ids=[f"{p.name}:{a[0]}" for p, a, _ in CALLS])
def test_every_listing_names_an_existing_object(where, args, kwargs):
    listing = pl.show_source(*args, **kwargs)
    assert (REPO / listing.path).is_file(), f"{where.name}: {args[0]} is not in the repository's package"
    if "start_at" in kwargs:
        assert listing.code.startswith(kwargs["start_at"])
    else:
        assert listing.code.split("\n")[0].lstrip().startswith(("def ", "class ", "@"))


def test_a_listing_is_the_source_that_runs():
    listing = pl.show_source(pl.bits_per_dim)
    text = (REPO / "pixelcnn_lib/nn/heads.py").read_text().splitlines()
    assert listing.path == "pixelcnn_lib/nn/heads.py"
    assert listing.code.splitlines() == text[listing.first_line - 1 : listing.last_line]
    assert listing.code.startswith("def bits_per_dim(")
    assert repr(listing).startswith(f"# pixelcnn_lib/nn/heads.py, lines {listing.first_line}-")


def test_methods_are_dedented_and_named_by_string_or_object():
    by_name = pl.show_source("pixelcnn_lib.nn.blocks:GatedResidualBlock.call")
    by_object = pl.show_source(pl.nn.GatedResidualBlock.call)
    assert by_name.code == by_object.code and by_name.code.startswith("def call(")
    assert by_name.name == "GatedResidualBlock.call"


def test_a_part_between_two_markers():
    whole = pl.show_source("pixelcnn_lib.training:train")
    part = pl.show_source("pixelcnn_lib.training:train", start_at="callbacks = [average", end_before="finally")
    assert part.code.startswith("callbacks = [average") and "finally" not in part.code
    assert whole.first_line < part.first_line <= part.last_line < whole.last_line
    assert len(part.code.splitlines()) == part.last_line - part.first_line + 1


def test_a_traced_function_shows_its_python_source():
    @tf.function
    def double(x):
        return 2 * x

    code = pl.show_source(double).code
    assert code.startswith("@tf.function") and "def double(x):\n    return 2 * x" in code


def test_html_is_highlighted_and_escaped():
    page = pl.show_source("pixelcnn_lib.nn.convolutions:causal_mask")._repr_html_()
    assert "pixelcnn_lib/nn/" in page and "<span" in page and "style=" in page
    assert "<" in pl.show_source(pl.nn.causal_mask).code and "&lt;" in page  # its comparisons, escaped


@pytest.mark.parametrize("name, message", [
    ("pixelcnn_lib.nn", "of the form"),
    ("pixelcnn_lib.nn:NoSuchLayer", "has no 'NoSuchLayer'"),
    ("pixelcnn_lib.no_such_module:thing", "no_such_module"),
])
def test_bad_names_are_errors(name, message):
    with pytest.raises((ValueError, ModuleNotFoundError), match=message):
        resolve(name)


def test_missing_markers_and_non_code_objects_are_errors():
    with pytest.raises(ValueError, match="contains 'no such line'"):
        SourceListing("pixelcnn_lib.training:train", start_at="no such line")
    with pytest.raises(TypeError, match="functions, methods and classes"):
        pl.show_source(3)


def test_argument_checks_fold_into_one_line_each_run():
    from pixelcnn_lib.teaching.source_code import SourceListing, fold_checks

    code = (
        "def f(x, y):\n"
        "    if x < 0:\n"
        "        raise ValueError('x')\n"
        "    if y is None:\n"
        "        raise TypeError(\n"
        "            'y')\n"
        "\n"
        "    if x > 1:\n"
        "        x = 1\n"
        "    return x + y\n"
    )
    folded = fold_checks(code)
    assert folded.splitlines() == [
        "def f(x, y):",
        "    # (argument checks: 5 lines, left out)",
        "",
        "    if x > 1:",  # an if that does something stays
        "        x = 1",
        "    return x + y",
    ]
    assert fold_checks("    if x:\n") == "    if x:\n"  # a part that does not parse is left as it is
    full = SourceListing("pixelcnn_lib.nn.convolutions:MaskedConv2D")
    short = SourceListing("pixelcnn_lib.nn.convolutions:MaskedConv2D", checks=False)
    assert "raise ValueError" in full.code and "raise" not in short.code
    assert "# (argument checks:" in short.code and short.caption == full.caption
