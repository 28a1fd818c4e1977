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
