"""The library's own source code as a notebook cell's output.

The chapters show the code they discuss with ``show_source(obj)``: the
listing is the output of a code cell, so it looks the same on the website, in
Colab and in JupyterLab, and it is always the code that runs (it is read from
the installed module, not copied into the text).
"""

import ast
import html
import importlib
import inspect
import os
import textwrap

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository


class SourceListing:
    """The source of one function, method or class, with the file and lines it comes from.

    Displays as highlighted HTML in notebooks and as plain text elsewhere.
    ``obj`` is the object, or its name as ``"package.module:Qualified.name"``.
    ``start_at`` and ``end_before`` cut out a part: from the first line that
    contains ``start_at`` to the line before the next one that contains
    ``end_before``. ``checks=False`` folds argument checks out of the
    listing: every ``if`` whose whole body is a ``raise`` becomes one comment
    line saying how many lines were left out, so the listing shows what the
    code does with valid arguments (the caption's line numbers stay those of
    the file).
    """

    def __init__(self, obj, start_at=None, end_before=None, checks=True):
        if isinstance(obj, str):
            obj = resolve(obj)
        target = getattr(obj, "python_function", obj)  # a tf.function: the Python function it traces
        target = inspect.unwrap(target)
        if not (inspect.isfunction(target) or inspect.isclass(target) or inspect.ismethod(target)):
            raise TypeError(f"show_source shows functions, methods and classes, got {type(obj).__name__} {obj!r}")
        try:
            lines, first = inspect.getsourcelines(target)
            path = inspect.getsourcefile(target)
        except (OSError, TypeError) as error:
            raise ValueError(f"the source of {obj!r} is not available: {error}") from error
        self.name = target.__qualname__
        begin, end = 0, len(lines)
        if start_at is not None:
            begin = _find(lines, start_at, 0, self.name)
        if end_before is not None:
            end = _find(lines, end_before, begin + 1, self.name)
        self.code = textwrap.dedent("".join(lines[begin:end])).rstrip("\n")
        if not checks:
            self.code = fold_checks(self.code)
        self.first_line, self.last_line = first + begin, first + end - 1
        self.path = os.path.relpath(path, PACKAGE_PARENT).replace(os.sep, "/")

    @property
    def caption(self):
        return f"{self.path}, lines {self.first_line}-{self.last_line}: {self.name}"

    def __repr__(self):
        return f"# {self.caption}\n{self.code}"

    def _repr_html_(self):
        # inline styles, so the listing needs no style sheet: the same in every front end
        body = highlight(self.code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
        return (
            '<div style="border:1px solid #d0d7de;border-radius:4px;margin:0.3em 0;overflow-x:auto;'
            'background:#ffffff;color:#1f2328">'
            '<div style="font-family:monospace;font-size:0.85em;color:#57606a;background:#f6f8fa;'
            f'padding:0.2em 0.6em;border-bottom:1px solid #d0d7de">{html.escape(self.caption)}</div>'
            f'<div style="padding:0 0.6em;font-size:0.9em">{body}</div></div>'
        )


def show_source(obj, start_at=None, end_before=None, checks=True):
    """A listing of ``obj``'s source (function, method or class) that a notebook displays as a cell's output.

    ``obj`` may be the object or its name, ``"pixelcnn_lib.nn:GatedResidualBlock.call"``; see
    ``SourceListing`` for cutting out a part and for ``checks=False``, which folds argument checks out.
    """
    return SourceListing(obj, start_at, end_before, checks)


def fold_checks(code):
    """``code`` with every argument check (an ``if`` whose whole body is a ``raise``, without ``else``) replaced by
    one comment line, ``# (argument checks: N lines, left out)``, at the indentation of the first."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a part cut out with start_at / end_before need not parse on its own
        return code
    checks = [node for node in ast.walk(tree) if isinstance(node, ast.If) and not node.orelse
              and len(node.body) == 1 and isinstance(node.body[0], ast.Raise)]
    lines = code.split("\n")
    removed = set()
    for node in checks:
        removed |= set(range(node.lineno - 1, node.end_lineno))
    out, k = [], 0
    while k < len(lines):
        if k not in removed:
            out.append(lines[k])
            k += 1
            continue
        run = k
        while k < len(lines) and (k in removed or not lines[k].strip()):
            k += 1
        while k > run and not lines[k - 1].strip():  # blank lines after the checks stay
            k -= 1
        indent = lines[run][: len(lines[run]) - len(lines[run].lstrip())]
        out.append(f"{indent}# (argument checks: {k - run} lines, left out)")
    return "\n".join(out)


def resolve(name):
    """The object named ``"package.module:Qualified.name"``."""
    module_name, sep, qualname = name.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"expected a name of the form 'package.module:Qualified.name', got {name!r}")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{name!r}: {obj.__name__ if hasattr(obj, '__name__') else obj!r} has no {part!r}")
        obj = getattr(obj, part)
    return obj


def _find(lines, text, start, name):
    for k in range(start, len(lines)):
        if text in lines[k]:
            return k
    raise ValueError(f"no line of {name} from its line {start + 1} on contains {text!r}")
