"""Names of a package imported from their modules on first use (PEP 562), so importing the package imports nothing."""

import importlib


def lazy_exports(package, exports):
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a name to the submodule (relative to the
    package) that defines it; any other submodule is reachable as an attribute too."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            namespace[name] = value  # imported once
            return value
        try:  # a submodule, as ``pl.nn``
            return importlib.import_module(f".{name}", package)
        except ModuleNotFoundError as error:
            if error.name != f"{package}.{name}":
                raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted([*namespace, *exports])

    return __getattr__, __dir__
