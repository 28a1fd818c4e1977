"""Every chapter runs alone in an empty folder, in the ``ci`` profile, on the reader's install.

The run is ``chapter_runs.run_chapter``'s: the package built as a wheel and installed into a fresh environment
that does not see this checkout, the chapter copied into an empty folder (a chapter must need nothing but itself
and the installed package, as in Colab) and executed there. ``make test`` runs each chapter once before the book
is built (``python tests/chapter_runs.py``); the book shows that run and these tests check it, and a test runs
its chapter itself when the stored run is not current. Checked as ``pytest --nbval-lax`` checks: every cell
runs, the assertions in the cells hold, and cells tagged ``nbval-check-output`` print exactly what the notebook
stores. In CI (``CI=true``) a chapter must also finish within its time budget.
"""

import os
import tempfile
from pathlib import Path

import nbformat
import pytest
from chapter_runs import (
    CHAPTERS,
    CHECKED,
    book_cache_key,
    checked_output_differences,
    profile,
    reader_python,
    run_chapter,
    stored_run,
)

pytestmark = pytest.mark.slow

# the ci profile's promise: each chapter in under 4 minutes on two CPU cores. Chapter 5 is the longest: it shows
# the shipped models' results in every profile (64 samples, completions, surprise maps, temperatures, the gemstone
# model) and trains its live run; it took 209 s in a fresh-clone CI run under nbval.
BUDGET_S = 240


@pytest.fixture(scope="module")
def reader():
    """The reader's Python, built on first use: when every chapter's stored run is current, it is not needed."""
    built = {}
    with tempfile.TemporaryDirectory(prefix="reader-") as root:
        def python():
            if "python" not in built:
                built["python"] = reader_python(Path(root))
            return built["python"]
        yield python


def test_the_wheel_holds_the_shipped_files(reader, tmp_path):
    import subprocess

    code = ("import pixelcnn_lib, pathlib; from pixelcnn_lib.pretrained import load_pretrained; "
            "from pixelcnn_lib.data import load_holdout_sample; "
            "print(load_pretrained('pixelsnail_cifar10').count_params(), len(load_holdout_sample()[0]))")
    done = subprocess.run([str(reader()), "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.split()[-2:] == ["301290", "200"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_runs_alone_and_prints_what_it_stores(chapter, reader):
    run = stored_run(chapter)
    origin = "stored run"
    if run is None:
        run, origin = run_chapter(chapter, reader()), "run now"
    print(f"{chapter.name}: {run.seconds:.0f} s ({profile()} profile, {origin})")
    assert run.error is None, f"{chapter.name} failed:\n{run.error}"
    differences = checked_output_differences(chapter, run.notebook)
    assert not differences, f"{chapter.name} printed other outputs than it stores:\n" + "\n".join(differences)
    # the book shows this run: its execution cache files it under the chapter's own key
    assert book_cache_key(run.notebook) == book_cache_key(nbformat.read(chapter, as_version=4))
    if os.environ.get("CI", "").lower() == "true" and profile() == "ci":
        assert run.seconds < BUDGET_S, f"{chapter.name} took {run.seconds:.0f} s, over the ci profile's {BUDGET_S} s"


def test_the_check_finds_a_changed_printout():
    chapter = CHAPTERS[0]
    notebook = nbformat.read(chapter, as_version=4)  # printing exactly what it stores
    assert checked_output_differences(chapter, notebook) == []
    checked = [cell for cell in notebook.cells if CHECKED in cell.metadata.get("tags", [])]
    assert checked, f"{chapter.name} has no cell tagged {CHECKED}"
    stream = next(output for output in checked[0].outputs if output.output_type == "stream")
    stream.text = stream.text.replace("0", "1", 1) if "0" in stream.text else stream.text + "!"
    (difference,) = checked_output_differences(chapter, notebook)
    assert "stored:" in difference and "printed:" in difference
    checked[0].source += "\n# changed"
    assert checked_output_differences(chapter, notebook) == ["the executed notebook's code is not the chapter's"]
