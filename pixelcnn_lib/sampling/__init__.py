"""Likelihood, sampling and completion: ``log_prob``, ``class_log_probs``, ``sample``, ``complete``.

* ``api``: the functions users call, and the naive sampler (the whole model at every step);
* ``loop``: the raster-order fill loop every sampler runs through, and its step seeds;
* ``cached``: the cached sampler (one position per step, TensorFlow's speed path);
* ``checks``: checks of samples (their bits/dim under the model, runaways, the fill loop against the head).
"""

from .api import METHODS, NaiveSampler, class_log_probs, complete, log_prob, sample

__all__ = ["METHODS", "NaiveSampler", "class_log_probs", "complete", "log_prob", "sample"]
