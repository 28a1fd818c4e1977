"""The package's metadata agrees with the repository: licence, ignored build output."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_licence_file_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "MIT" and text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_build_output_is_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"build/", "dist/", "_build/", "*.egg-info/"} <= set(ignored)


def test_names_spell_colour_one_way():
    """The library's own names say "colour" (as the book does); ``color=`` and the like are matplotlib's and
    PIL's keywords, passed through, not names defined here."""
    import ast

    found = []
    for path in sorted((ROOT / "pixelcnn_lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.append(node.name)
            if isinstance(node, ast.arg):
                names.append(node.arg)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append(node.id)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.append(node.attr)
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names if "color" in name.lower()]
    assert not found, "\n".join(found)
