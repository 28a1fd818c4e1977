"""The vocabulary of analytic receptive fields: links between streams, offsets, shifts.

A model's analytic description ("spec", its ``receptive_spec`` method, written
beside its ``network``) is a list of steps; each step is a list of ``Link`` s,
and each link says that stream ``output`` at pixel (i, j) reads stream
``input`` at the pixels (i + dy, j + dx) for the link's ``offsets`` (or at
every earlier pixel, ``EARLIER``, for causal attention). Streams that a step
does not write pass through it unchanged. Offsets come from the layers
themselves (``WeightNormConv2D.footprint``). ``receptive_field`` follows a spec
backwards from a target pixel.
"""

from __future__ import annotations

import dataclasses

EARLIER = "earlier"  # offsets of causal attention: every pixel strictly before the target in raster order
CENTRE = frozenset({(0, 0)})  # offsets of a 1x1 convolution, an activation or a residual connection


@dataclasses.dataclass(frozen=True)
class Link:
    """Stream ``output`` at pixel (i, j) reads stream ``input`` at (i + dy, j + dx) for (dy, dx) in ``offsets``.

    ``offsets`` is a frozenset of (dy, dx) pairs or ``EARLIER``. ``label``
    names the layer for drawings (unlabelled links are 1x1 plumbing);
    ``layer`` is the title of the layer the link belongs to.
    """

    output: str
    input: str
    offsets: frozenset | str
    label: str = ""
    layer: str = ""


def shift(offsets, dy, dx):
    """Offsets of a layer followed by a shift: ``down_shift`` is (-1, 0), ``right_shift`` is (0, -1)."""
    return frozenset((a + dy, b + dx) for a, b in offsets)


def kernel_name(conv):
    """'2x3' for a convolution with a 2x3 kernel."""
    return "x".join(str(k) for k in conv.kernel_size)


def residual_links(block, stream, tmp, aux=None, label="", layer=""):
    """The steps of a ``GatedResidualBlock``: stream += f(conv2(conv1(stream) [+ 1x1(aux)]))."""
    first = [Link(tmp, stream, block.conv1.footprint(), label, layer)]
    if aux is not None:
        first.append(Link(tmp, aux, CENTRE, "", layer))
    return [first, [Link(stream, stream, CENTRE, "", layer), Link(stream, tmp, block.conv2.footprint(), "", layer)]]
