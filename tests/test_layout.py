"""The library's layout: the import graph points one way, TensorFlow stays where it is the point, and the core
runs on JAX from a wheel with only its core dependencies. (``tests/backend_check.py`` runs the core on JAX and
PyTorch with TensorFlow made unimportable, model by model.)"""

import ast
import os
import subprocess
import sys
import textwrap
import tomllib

import pytest
from chapter_runs import build_wheel
from import_graph import PACKAGE, cycles, graph, module_name

ROOT = PACKAGE.parent
CORE = ("pixelcnn_lib.nn", "pixelcnn_lib.models", "pixelcnn_lib.sampling", "pixelcnn_lib.training")
#: the modules that import TensorFlow, and why: each is about TensorFlow itself
TENSORFLOW_MODULES = {
    "pixelcnn_lib.backend": "what differs per backend",
    "pixelcnn_lib.data": "the tf.data pipelines (imported inside them)",
    "pixelcnn_lib.nn.caches": "cached sampling's caches are TensorFlow variables written in place",
    "pixelcnn_lib.training.callbacks": "TensorBoard's summary writer",
    "pixelcnn_lib.training.trainer": "tf.distribute strategies and the tf.data input",
    "pixelcnn_lib.cli": "the command line starts TensorFlow quietly and sets up its devices",
}


def test_the_import_graph_has_no_circle():
    assert cycles(graph()) == []


def test_the_core_never_imports_the_teaching_tools():
    edges = graph()
    wrong = {name: sorted(t for t in targets if t.startswith("pixelcnn_lib.teaching"))
             for name, targets in edges.items() if not name.startswith("pixelcnn_lib.teaching")}
    assert {name: t for name, t in wrong.items() if t} == {}
    assert any(t.startswith("pixelcnn_lib.models") for t in edges["pixelcnn_lib.teaching.receptive_field"])


def _imports_tensorflow(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tensorflow" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow":
            return True
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args
                and getattr(node.args[0], "value", None) == "tensorflow"):
            return True
    return False


def test_tensorflow_is_imported_only_where_it_is_the_point():
    found = {module_name(p) for p in PACKAGE.rglob("*.py") if _imports_tensorflow(p)}
    assert found == set(TENSORFLOW_MODULES)


def test_the_core_dependencies_are_lean():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0] for d in project["dependencies"]}
    assert names == {"keras", "numpy", "pillow", "tqdm"}
    extras = project["optional-dependencies"]
    assert {"tensorflow", "book", "all"} <= set(extras)
    assert any(d.startswith("tensorflow") for d in extras["tensorflow"])


def _pins(*names):
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    return [pins[n] for n in names]


LEAN_SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    assert importlib.util.find_spec("tensorflow") is None and importlib.util.find_spec("matplotlib") is None
    import numpy as np
    import pixelcnn_lib as pl
    print(pl.presets())
    model = pl.from_preset("pixelsnail_cifar10")
    known = np.ones((2, 32, 32), bool)
    known[:, -1, -3:] = False
    images = np.full((2, 32, 32, 3), 100, np.uint8)
    done = pl.complete(model, images, known, seed=1, progress=False)
    assert (done[known] == 100).all() and done.shape == images.shape
    print("bits/dim", float(pl.bits_per_dim(-pl.log_prob(model, done).mean(), model.image_shape)))
    for name, extra in (("pixelcnn_lib.training.trainer", "tensorflow"), ("pixelcnn_lib.teaching.plotting", "book")):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            assert f"pixelcnn_lib[{extra}]" in str(error), str(error)
            print("missing extra:", error)
        else:
            raise AssertionError(f"{name} imported without its extra")
""").replace("import importlib.util, sys", "import importlib, importlib.util, sys")


@pytest.mark.slow
def test_the_wheel_with_its_core_dependencies_samples_a_preset_on_jax(tmp_path):
    """Builds the wheel, installs it with its core dependencies and JAX alone into a fresh environment (from the
    package index), and completes pixels of two images with the shipped PixelSNAIL there."""
    wheel = build_wheel(tmp_path / "wheels")
    venv = tmp_path / "lean"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel),
                              *_pins("jax", "jaxlib", "keras", "numpy", "pillow", "tqdm")],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            check=True).stdout.lower()
    assert "tensorflow" not in listed and "matplotlib" not in listed and "ipywidgets" not in listed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run([str(python), "-c", LEAN_SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**env, "KERAS_BACKEND": "jax"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "pixelsnail_cifar10" in run.stdout and "missing extra:" in run.stdout


@pytest.mark.slow
def test_every_top_level_name_is_what_it_names_after_every_module_is_imported():
    """Importing a submodule sets it as an attribute of its package: no module may share a name the package
    exports (``pl.presets`` is a function, whatever was imported before)."""
    code = textwrap.dedent("""
        import importlib, pkgutil, types
        import pixelcnn_lib as pl
        for info in pkgutil.walk_packages(pl.__path__, "pixelcnn_lib."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
        for package in ("pixelcnn_lib", "pixelcnn_lib.training", "pixelcnn_lib.sampling", "pixelcnn_lib.nn"):
            module = importlib.import_module(package)
            clash = [n for n in module.__all__ if isinstance(getattr(module, n), types.ModuleType)]
            assert not clash, (package, clash)
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]
