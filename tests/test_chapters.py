"""Every chapter runs under nbval, alone in an empty folder, in the ``ci`` profile.

Each chapter is copied into a fresh temporary folder (a chapter must need nothing but itself and the
installed library, as in Colab) and run with ``pytest --nbval-lax`` on a kernel of this Python: every
cell must run, the assertions in the cells must hold, and cells tagged ``nbval-check-output`` must print
exactly what the notebook stores. In CI (``CI=true``) a chapter must also finish within its time budget.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
BUDGET_S = 180  # the ci profile's promise: each chapter in well under 3 minutes on two CPU cores


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_runs_alone_under_nbval(chapter, tmp_path):
    shutil.copy(chapter, tmp_path / chapter.name)
    env = {**os.environ, "PIXELCNN_PROFILE": os.environ.get("PIXELCNN_PROFILE", "ci")}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         "--nbval-cell-timeout=600", chapter.name],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    elapsed = time.monotonic() - start
    print(f"{chapter.name}: {elapsed:.0f} s under nbval ({env['PIXELCNN_PROFILE']} profile)")
    assert result.returncode == 0, f"{chapter.name} failed under nbval:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
    if os.environ.get("CI", "").lower() == "true" and env["PIXELCNN_PROFILE"] == "ci":
        assert elapsed < BUDGET_S, f"{chapter.name} took {elapsed:.0f} s, more than the ci profile's {BUDGET_S} s"
