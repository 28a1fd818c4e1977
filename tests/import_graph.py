"""The import graph of pixelcnn_lib, read from its source: every import, at the top of a module or in a function."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pixelcnn_lib"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path, known):
    """The modules of the package that ``path`` imports (``from . import x`` counts x when x is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pixelcnn_lib")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "pixelcnn_lib":
                target = node.module
            else:
                continue
            submodules = {f"{target}.{a.name}" for a in node.names} & set(known)
            found.update(submodules)
            if len(submodules) < len(node.names):  # names defined in the module itself
                found.add(target)
    edges = set()
    for target in found:
        while target not in known:  # a name inside a module: the module
            target = target.rpartition(".")[0]
        parts = target.split(".")
        edges.add(target)
        # a package's __init__ runs before its modules, unless the importer is inside it (it has run already)
        edges.update(".".join(parts[:k]) for k in range(2, len(parts))
                     if not (name + ".").startswith(".".join(parts[:k]) + "."))
    edges.discard(name)
    return edges


def graph():
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def cycles(edges):
    """Every strongly connected set of more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out
