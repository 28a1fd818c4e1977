"""Progress bars for long work: training per step, evaluation per batch, sampling per row.

The bars are tqdm's (``tqdm.auto``): text in a terminal, a widget in
JupyterLab and Colab. Whether one is shown is decided by the ``progress``
argument of the function doing the work: True or False; None (the default)
reads the environment variable ``PIXELCNN_PROGRESS`` ("1" on, "0" off) and
otherwise shows bars in a notebook kernel and in a terminal, and none where
the output goes to a file or a CI log, which a bar would flood.
"""

import os
import sys

from tqdm.auto import tqdm

ENVIRONMENT_VARIABLE = "PIXELCNN_PROGRESS"


def progress_enabled(progress=None):
    """Whether to show a bar: ``progress`` if given, else the environment variable, else the front end."""
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None, got {progress!r}")
        return progress
    setting = os.environ.get(ENVIRONMENT_VARIABLE)
    if setting is not None:
        if setting not in ("0", "1"):
            raise ValueError(f"{ENVIRONMENT_VARIABLE} must be 0 or 1, got {setting!r}")
        return setting == "1"
    return in_notebook() or sys.stderr.isatty()


def in_notebook():
    """True inside a Jupyter kernel (JupyterLab, Colab, the book's build)."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None:
        return False
    shell = shell_module.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_bar(total, description, unit, progress=None):
    """A tqdm bar over ``total`` units; a silent one when bars are off.

    In a terminal the finished bar stays, as a line of the log. In a notebook it is a widget that closes when
    the work is done (``leave=False``), so a saved notebook, and the page built from it, keeps no finished bar.
    """
    return tqdm(total=total, desc=description, unit=unit, disable=not progress_enabled(progress),
                leave=not in_notebook(), dynamic_ncols=True)


def rows(height, description="sampling", progress=None):
    """``range(height)`` with a bar that advances per row and shows the time left."""
    with progress_bar(height, description, "row", progress) as bar:
        for i in range(height):
            yield i
            bar.update(1)
