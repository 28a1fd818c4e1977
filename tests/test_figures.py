"""The README's pictures exist, are the ones figures/make_figures.py draws, and are real PNG images."""

import ast
import re
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
SCRIPT = REPO / "figures" / "make_figures.py"


def drawn_by_the_script():
    tree = ast.parse(SCRIPT.read_text())
    (figures,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", None) == "FIGURES" for t in node.targets)]
    return set(ast.literal_eval(figures))


def test_every_picture_of_the_readme_exists_and_is_drawn_by_the_script():
    shown = set(re.findall(r"!\[[^\]]+\]\(figures/([^)]+)\)", README))
    assert len(shown) >= 4
    assert shown == drawn_by_the_script()
    for name in shown:
        with Image.open(REPO / "figures" / name) as picture:
            assert picture.format == "PNG" and min(picture.size) > 100, name


def test_the_readme_names_the_command_that_redraws_them():
    assert "python figures/make_figures.py" in README
