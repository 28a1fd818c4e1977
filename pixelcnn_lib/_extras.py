"""Optional dependencies: a module that is missing raises an error that names the extra that installs it."""

import importlib

EXTRAS = {  # module -> the extra of pixelcnn_lib that installs it
    "tensorflow": "tensorflow", "tensorboard": "tensorflow",
    "matplotlib": "book", "ipywidgets": "book", "pygments": "book", "sklearn": "book",
}


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed."""


def require(module, what=None):
    """Import ``module`` (one of ``EXTRAS``) and return it, or raise ``MissingExtraError`` naming its extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        top = module.split(".")[0]
        if error.name is None or error.name.split(".")[0] != top:
            raise
        extra = EXTRAS[top]
        need = f" for {what}" if what else ""
        raise MissingExtraError(f"{top} is needed{need} and is not installed: pip install 'pixelcnn_lib[{extra}]'",
                                name=top) from error
