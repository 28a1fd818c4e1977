"""What the library compiles for a model (sampling and evaluation steps, cached samplers), kept by the library.

Nothing is attached to the user's model: ``per_model(model, key, make)`` keeps what ``make()`` builds in a
``weakref.WeakKeyDictionary`` keyed by the model, and what it keeps reaches the model through weak references
only (``backend.stateless_model_function``, ``CachedSampler``), so a model that is dropped is garbage collected
with everything compiled for it.
"""

import weakref

_ENTRIES = weakref.WeakKeyDictionary()  # model -> {key: compiled function or sampler}


def per_model(model, key, make):
    """What ``make()`` built for ``model`` under ``key``, built on the first call and reused after."""
    entries = _ENTRIES.setdefault(model, {})
    if key not in entries:
        entries[key] = make()
    return entries[key]


def entries(model):
    """The keys kept for ``model`` (for tests)."""
    return sorted(map(str, _ENTRIES.get(model, {})))
