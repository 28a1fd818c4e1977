"""Each chapter run once, as a reader runs it: the run that the chapter tests check and the book shows.

A reader installs the package from its wheel and opens one chapter by itself, as in Colab. ``reader_python``
builds that: the package is built as a wheel and installed into a fresh virtual environment that does not see
this checkout (its third-party packages come from this environment's site-packages, whose editable install of the
library is not loaded). ``run_chapter`` copies a chapter into an empty folder and executes it with nbclient on a
kernel of that environment: the executed notebook, the seconds it took and the first error, if any.

    python tests/chapter_runs.py [CHAPTER ...]

runs the chapters (all by default; in the profile of ``PIXELCNN_PROFILE``, ``ci`` if unset) whose stored run is
missing or stale, stores each in ``_build/chapter_runs/``, and hands each successful one to the book's execution
cache (``_build/.jupyter_cache``, where MyST-NB looks first), so that ``make book`` shows these outputs instead of
running every chapter a second time. ``make book`` calls it first. A stored run is current while the chapter, the
library's files, ``pyproject.toml`` and the profile are those it ran with. ``tests/test_chapters.py`` checks the
stored runs, and runs a chapter itself when its stored run is not current.

The check of a run is nbval's ``--nbval-lax`` check, without running the chapter again: every cell ran without
an error, and every cell tagged ``nbval-check-output`` printed exactly what the notebook stores, compared as nbval
compares (streams coalesced; images and widget ids left out).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat  # (in the reader's environment too: its third-party packages are this environment's)

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "chapters").glob("*.ipynb"))
STORE = REPO / "_build" / "chapter_runs"
BOOK_CACHE = REPO / "_build" / ".jupyter_cache"  # Jupyter Book's execution cache (execute_notebooks: cache)
CELL_TIMEOUT_S = 600  # as _config.yml's execute.timeout
CHECKED = "nbval-check-output"
# what nbval leaves out of a comparison (nbval.plugin.IPyNbFile.skip_compare without --nbdime)
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


def profile() -> str:
    return os.environ.get("PIXELCNN_PROFILE", "ci")


def run_env() -> dict:
    """The environment of a chapter's kernel: the profile, and no progress bars (as the book is built)."""
    return {**os.environ, "PIXELCNN_PROFILE": profile(), "PIXELCNN_PROGRESS": "0"}


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def build_wheel(folder: Path) -> Path:
    """The library's wheel, built from this checkout into ``folder``."""
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
          str(folder), str(REPO)])
    (wheel,) = Path(folder).glob("pixelcnn_lib-*.whl")
    return wheel


def reader_python(root: Path) -> Path:
    """The Python of a fresh environment under ``root`` with the library installed from its wheel."""
    wheel = build_wheel(root / "wheel")
    _run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")])
    python = root / "env" / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)])
    # the third-party packages of this environment; a path listed in a .pth file is added to sys.path without
    # running that folder's own .pth files, so the editable install of the checkout stays out
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = _run([str(python), "-c", "import pixelcnn_lib; print(pixelcnn_lib.__file__)"], cwd=root).strip()
    if not Path(where).is_relative_to(site):
        raise RuntimeError(f"the reader's environment imports the library from {where}")
    return python


def _digest(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _library_digest() -> str:
    """The library's files and pyproject.toml, read once per process (the weights are megabytes)."""
    library = sorted(p for p in (REPO / "pixelcnn_lib").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return _digest([REPO / "pyproject.toml", *library])


def source_key(chapter: Path) -> str:
    """A digest of what a chapter's run depends on: the chapter, the library's files, pyproject.toml, the profile."""
    return hashlib.sha256(f"{profile()}\0{_library_digest()}\0{_digest([Path(chapter)])}".encode()).hexdigest()


@dataclass
class ChapterRun:
    chapter: str  # the file name, e.g. "01_introduction.ipynb"
    notebook: object  # the executed notebook (an nbformat 4 NotebookNode)
    seconds: float  # from the kernel's start to the last cell's end
    error: str | None  # the first error, or None
    key: str  # source_key at the time of the run


def run_chapter(chapter: Path, python: Path) -> ChapterRun:
    """Execute ``chapter`` alone in an empty folder on a kernel of ``python`` (see ``reader_python``)."""
    chapter = Path(chapter)
    key = source_key(chapter)
    with tempfile.TemporaryDirectory(prefix="chapter-") as folder:
        shutil.copy(chapter, Path(folder) / chapter.name)
        done = subprocess.run([str(python), str(Path(__file__).resolve()), "--execute", chapter.name],
                              cwd=folder, env=run_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{chapter.name}: the runner failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        result = json.loads(Path(folder, "run.json").read_text())
        notebook = nbformat.read(Path(folder, chapter.name), as_version=4)
    return ChapterRun(chapter.name, notebook, result["seconds"], result["error"], key)


def _execute_here(name: str) -> None:
    """In the reader's environment, in the chapter's folder: execute it in place, and write run.json."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    notebook = nbformat.read(name, as_version=4)
    # no timings in the cells' metadata: the book's cache finds a run by the code and metadata of its cells
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, allow_errors=False, record_timing=False,
                            resources={"metadata": {"path": os.getcwd()}})
    error, start = None, time.monotonic()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as failure:
        error = str(failure)[-6000:]
    seconds = time.monotonic() - start
    nbformat.write(notebook, name)
    Path("run.json").write_text(json.dumps({"seconds": seconds, "error": error}))


def store(run: ChapterRun) -> None:
    """Keep ``run`` in _build/chapter_runs/ and, when it succeeded, in the book's execution cache."""
    STORE.mkdir(parents=True, exist_ok=True)
    stem = Path(run.chapter).stem
    nbformat.write(run.notebook, STORE / f"{stem}.ipynb")
    (STORE / f"{stem}.json").write_text(json.dumps(
        {"seconds": run.seconds, "error": run.error, "key": run.key, "profile": profile()}, indent=1) + "\n")
    hand_to_the_book(run)


def hand_to_the_book(run: ChapterRun) -> None:
    """Put a successful run into the book's execution cache, where MyST-NB finds it by the chapter's code."""
    if run.error is not None:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    get_cache(str(BOOK_CACHE)).cache_notebook_bundle(
        CacheBundleIn(run.notebook, str(REPO / "chapters" / run.chapter),
                      data={"execution_seconds": run.seconds}),
        check_validity=False, overwrite=True)


def book_cache_key(notebook) -> str:
    """The key under which the book's execution cache files a notebook (its cells' code and metadata)."""
    from jupyter_cache import get_cache

    return get_cache(str(BOOK_CACHE)).create_hashed_notebook(notebook)[1]


def stored_run(chapter: Path) -> ChapterRun | None:
    """The stored run of ``chapter`` if it is current, else None."""
    chapter = Path(chapter)
    meta, executed = STORE / f"{chapter.stem}.json", STORE / f"{chapter.stem}.ipynb"
    if not (meta.exists() and executed.exists()):
        return None
    record = json.loads(meta.read_text())
    if record["key"] != source_key(chapter):
        return None
    return ChapterRun(chapter.name, nbformat.read(executed, as_version=4), record["seconds"], record["error"],
                      record["key"])


def _coalesced(outputs):
    from nbval.plugin import coalesce_streams, transform_streams_for_comparison

    return transform_streams_for_comparison(coalesce_streams(outputs))


def _flattened(outputs):
    """nbval's view of a cell's outputs: key (or MIME type) -> its values in order, minus SKIP_COMPARE."""
    flat = {}
    for output in _coalesced(outputs):
        for key, value in output.items():
            if key in SKIP_COMPARE:
                continue
            items = value.items() if key == "data" else [(key, value)]
            for name, item in items:
                if name not in SKIP_COMPARE:
                    flat.setdefault(name, []).append(item)
    return flat


def checked_output_differences(chapter: Path, executed) -> list[str]:
    """Where the cells tagged nbval-check-output of ``executed`` (a NotebookNode) printed something other than what
    ``chapter`` stores."""
    stored = nbformat.read(chapter, as_version=4)
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    ran = [cell for cell in executed.cells if cell.cell_type == "code"]
    if [cell.source for cell in code] != [cell.source for cell in ran]:
        return ["the executed notebook's code is not the chapter's"]
    differences = []
    for number, (reference, test) in enumerate(zip(code, ran), 1):
        if CHECKED not in reference.metadata.get("tags", []):
            continue
        want, got = _flattened(reference.outputs), _flattened(test.outputs)
        if want != got:
            differences.append(f"code cell {number} ({reference.source[:60]!r}...):\n"
                                f"  stored:  {json.dumps(want)[:2000]}\n  printed: {json.dumps(got)[:2000]}")
    return differences


def main(names) -> int:
    chapters = [REPO / "chapters" / name for name in names] if names else CHAPTERS
    missing = [str(path) for path in chapters if not path.exists()]
    if missing:
        raise SystemExit(f"no such chapter: {', '.join(missing)}")
    current = {chapter: stored_run(chapter) for chapter in chapters}
    for run in current.values():
        if run is not None:
            hand_to_the_book(run)  # (again: the cache may have been cleared since)
    stale = [chapter for chapter, run in current.items() if run is None]
    print(f"{len(chapters) - len(stale)} of {len(chapters)} chapters have a current run ({profile()} profile)")
    if stale:
        with tempfile.TemporaryDirectory(prefix="reader-") as root:
            python = reader_python(Path(root))
            for chapter in stale:
                run = run_chapter(chapter, python)
                store(run)
                outcome = "ran" if run.error is None else "FAILED"
                print(f"{chapter.name}: {outcome} in {run.seconds:.0f} s", flush=True)
    return 0  # a failed chapter is reported by tests/test_chapters.py (and the book build)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--execute"]:
        _execute_here(sys.argv[2])
    else:
        sys.exit(main(sys.argv[1:]))
