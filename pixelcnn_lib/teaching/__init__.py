"""The book's teaching tools: pictures, widgets, explorers, receptive fields, source listings, layer tables.

The core of the library (``nn``, ``models``, ``sampling``, ``training``) never imports this package; it imports
the core. Its modules need the ``book`` extra (matplotlib, ipywidgets, pygments):

* ``plotting``: figures and pictures (mixtures, fields, curves, animations);
* ``widgets``: the interactive explorers of chapters 2 and 3;
* ``causality_explorer``: the causality explorer that runs in the browser without Python;
* ``receptive_field``: receptive fields by gradient and by footprint, attention maps;
* ``source_code``: ``show_source``, the library's code as a cell's output;
* ``summary``: a model's layers as a table.
"""

from .._extras import require

for _module in ("matplotlib", "ipywidgets", "pygments"):
    require(_module, "the book's teaching tools")
