"""Output distributions ("heads") over 8-bit pixel values.

A head turns the network's output tensor ``params`` of shape (B, H, W, P) into a
distribution over the 256 values of every sub-pixel. Each head knows

* ``num_params``: P, the number of channels the network must produce;
* ``log_prob(images, params)``: nats per pixel, shape (B, H, W), channels summed;
* ``sample(params, seed)``: uint8 images of shape (B, H, W, C).

Pixels are integers 0..255; the network sees them scaled to [-1, 1]
(``x / 127.5 - 1``), so one bin is 2/255 wide, with half-width 1/255.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .. import backend, validation

HALF_BIN = 1.0 / 255.0
LOG_BIN_WIDTH = math.log(2.0 / 255.0)


def to_unit_range(images):
    """uint8 (or integer) images 0..255 -> float32 in [-1, 1]."""
    return ops.cast(images, "float32") / 127.5 - 1.0


def from_unit_range(x):
    """Float values in [-1, 1] -> nearest bin 0..255 as uint8.

    Values outside [-1, 1] go to the edge bins, which own the tails.
    """
    bins = ops.round((ops.cast(x, "float32") + 1.0) * 127.5)
    return ops.cast(ops.clip(bins, 0.0, 255.0), "uint8")


def bits_per_dim(nats, image_shape):
    """Negative log-likelihood in nats per image -> bits per sub-pixel.

    ``nats`` is the NLL of one image (a number, or an array of them, which is
    averaged); ``image_shape`` is (H, W, C). Pass the negated ``log_prob``.
    """
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {image_shape}")
    dims = float(np.prod(image_shape))
    return float(np.mean(np.asarray(nats, dtype=np.float64))) / (math.log(2.0) * dims)


def _leading_shape(t):
    """The shape of ``t`` without its last axis, for a reshape: static sizes, -1 for the one unknown (batch)."""
    shape = [d for d in t.shape[:-1]]
    if sum(d is None for d in shape) > 1:
        return tuple(ops.shape(t)[:-1])
    return tuple(-1 if d is None else int(d) for d in shape)


def _log_bin_mass(x, mean, log_scale):
    """log P(bin at x) for a logistic(mean, exp(log_scale)) discretised to 256 bins.

    All arguments are float tensors that broadcast together; ``x`` holds bin
    centres in [-1, 1]. The edge bins take the whole tails: x = -1 owns
    (-inf, -1 + 1/255], x = +1 owns [1 - 1/255, inf).

    Interior bins use the exact identity
        sigmoid(a) - sigmoid(b) = (1 - exp(b - a)) * sigmoid(a) * sigmoid(-b)
    in log space, which neither cancels nor underflows when both CDF values
    are close to 0 or to 1 (the case where the naive difference is 0 and its
    log is -inf). When the bin is so narrow relative to the scale that
    ``1 - exp(b - a)`` itself underflows (a scale beyond ~1e37), the mass is
    the density at the bin centre times the bin width.
    """
    centered = x - mean
    inv_scale = ops.exp(-log_scale)
    plus_in = inv_scale * (centered + HALF_BIN)
    min_in = inv_scale * (centered - HALF_BIN)
    log_cdf_plus = -ops.softplus(-plus_in)  # log sigmoid(plus_in): left tail
    log_one_minus_cdf_min = -ops.softplus(min_in)  # log(1 - sigmoid(min_in)): right tail

    width = inv_scale * (2.0 * HALF_BIN)  # = plus_in - min_in, without cancellation
    narrow = width < 1e-30
    safe_width = ops.where(narrow, ops.ones_like(width), width)
    log_interior = (
        ops.log(-ops.expm1(-safe_width)) - ops.softplus(-plus_in) - ops.softplus(min_in)
    )
    mid_in = inv_scale * centered
    log_density_mass = -ops.softplus(-mid_in) - ops.softplus(mid_in) - log_scale + LOG_BIN_WIDTH
    log_mid = ops.where(narrow, log_density_mass, log_interior)

    return ops.where(x < -0.999, log_cdf_plus, ops.where(x > 0.999, log_one_minus_cdf_min, log_mid))


@keras.saving.register_keras_serializable(package="pixelcnn_lib")
class DiscretizedLogisticMixture:
    """Mixture of K discretised logistics per pixel (Salimans et al., 2017).

    Parameter layout along the last axis of ``params`` (the PixelCNN++ one):
    ``K`` mixture logits, then for each channel ``c`` a block of ``K`` means,
    ``K`` log-scales and, for RGB only, ``K`` coupling coefficients. So
    ``num_params`` is 3K for grey and 10K for RGB.

    RGB channels share the mixture component and are coupled linearly:
    mu_G += c0 * x_R and mu_B += c1 * x_R + c2 * x_G with c = tanh(raw). In
    ``log_prob`` x is the true pixel; in ``sample`` it is the value just sampled
    (as a bin centre, so sampler and loss describe the same distribution).
    """

    def __init__(self, num_mixtures: int = 10, channels: int = 3, log_scale_min: float = -7.0):
        if not isinstance(num_mixtures, (int, np.integer)) or num_mixtures < 1:
            raise ValueError(f"num_mixtures must be a positive int, got {num_mixtures!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        self.num_mixtures = int(num_mixtures)
        self.channels = int(channels)
        self.log_scale_min = float(log_scale_min)

    @property
    def num_params(self) -> int:
        per_channel = 3 if self.channels == 3 else 2
        return self.num_mixtures * (1 + per_channel * self.channels)

    #: how many network evaluations sampling needs per pixel (coupling is in the head)
    passes_per_pixel = 1

    def get_config(self):
        return {"kind": "logistic_mixture", "num_mixtures": self.num_mixtures, "channels": self.channels,
                "log_scale_min": self.log_scale_min}

    @classmethod
    def from_config(cls, config):
        return head_from_config(config)

    def __repr__(self):
        return (f"DiscretizedLogisticMixture(num_mixtures={self.num_mixtures}, channels={self.channels}, "
                f"log_scale_min={self.log_scale_min})")

    def split_params(self, params):
        """(..., P) -> logits (..., K), means, log_scales, coeffs (..., C, K).

        ``coeffs`` is None for grey. Log-scales are clamped below at
        ``log_scale_min``; coefficients are squashed with tanh.
        """
        params = validation.check_params(params, self.num_params, "DiscretizedLogisticMixture")
        k, c = self.num_mixtures, self.channels
        # a split rather than strided slices: a strided slice's gradient is slow on CPU (TensorFlow)
        logits, rest = ops.split(params, [k], axis=-1)
        per_channel = 3 if c == 3 else 2
        rest = ops.reshape(rest, (*_leading_shape(params), c, per_channel * k))
        parts = ops.split(rest, per_channel, axis=-1)
        means = parts[0]
        log_scales = ops.maximum(parts[1], self.log_scale_min)
        coeffs = ops.tanh(parts[2]) if c == 3 else None
        return logits, means, log_scales, coeffs

    def _coupled_means(self, means, coeffs, x):
        """Means after RGB coupling; ``x`` is (..., C) in [-1, 1]."""
        if coeffs is None:
            return means
        xr, xg, _ = ops.split(x, 3, axis=-1)  # (..., 1) each, broadcast over the K components
        mr, mg, mb = ops.unstack(means, axis=-2)
        cr_g, cr_b, cg_b = ops.unstack(coeffs, axis=-2)
        return ops.stack([mr, mg + cr_g * xr, mb + cr_b * xr + cg_b * xg], axis=-2)

    def log_prob(self, images, params, temperature=1.0):
        """uint8 images (B, H, W, C), params (B, H, W, P) -> (B, H, W) nats.

        ``temperature``: the distribution ``sample`` draws from at that
        temperature (logits / T, scales * T); 1 is the model's own.
        """
        images = validation.check_images(images, self.channels)
        params = validation.check_params(params, self.num_params, "DiscretizedLogisticMixture")
        validation.check_same_grid(images, params)
        logits, means, log_scales, coeffs = self.split_params(params)
        if not (isinstance(temperature, (int, float)) and temperature == 1):
            temperature = check_temperature(temperature)
            logits, log_scales = logits / temperature, log_scales + ops.log(temperature)
        x = to_unit_range(images)  # (B, H, W, C)
        means = self._coupled_means(means, coeffs, x)
        log_bins = _log_bin_mass(x[..., None], means, log_scales)  # (B, H, W, C, K)
        log_components = ops.sum(log_bins, axis=-2) + ops.log_softmax(logits, axis=-1)
        return ops.logsumexp(log_components, axis=-1)

    def sample(self, params, seed=0, temperature=1.0):
        """params (B, H, W, P) -> uint8 images (B, H, W, C); same seed, same images.

        ``temperature`` T > 0 divides the mixture logits by T and multiplies
        every logistic's scale by T (after the scale's clamp); the coupling is
        unchanged. T = 1 draws exactly the model's distribution (bit for bit
        the same images); T < 1 favours the likely components and narrows
        each one; T > 1 does the opposite.
        """
        params = validation.check_params(params, self.num_params, "DiscretizedLogisticMixture")
        seed = backend.seed_pair(seed)
        logits, means, log_scales, coeffs = self.split_params(params)
        temperature = check_temperature(temperature)
        logits = logits / temperature
        log_scales = log_scales + ops.log(temperature)  # log(1) = 0 exactly: T = 1 changes nothing
        seeds = backend.split_seed(seed, 1 + self.channels)
        # pick one component per pixel, shared by all channels (Gumbel-max)
        u = backend.stateless_uniform(ops.shape(logits), seeds[0], minval=1e-5, maxval=1.0 - 1e-5)
        component = ops.argmax(logits - ops.log(-ops.log(u)), axis=-1)
        one_hot = ops.one_hot(component, self.num_mixtures, dtype=params.dtype)[..., None, :]  # (..., 1, K)
        mean = ops.sum(means * one_hot, axis=-1)  # (..., C)
        log_scale = ops.sum(log_scales * one_hot, axis=-1)
        coeff = ops.sum(coeffs * one_hot, axis=-1) if coeffs is not None else None

        values = []  # sampled bin centres in [-1, 1], one per channel
        for c in range(self.channels):
            m = mean[..., c]
            if c == 1:
                m = m + coeff[..., 0] * values[0]
            elif c == 2:
                m = m + coeff[..., 1] * values[0] + coeff[..., 2] * values[1]
            u = backend.stateless_uniform(ops.shape(m), seeds[1 + c], minval=1e-5, maxval=1.0 - 1e-5)
            continuous = m + ops.exp(log_scale[..., c]) * (ops.log(u) - ops.log1p(-u))
            values.append(to_unit_range(from_unit_range(continuous)))
        return from_unit_range(ops.stack(values, axis=-1))


@keras.saving.register_keras_serializable(package="pixelcnn_lib")
class Categorical:
    """A 256-way softmax per sub-pixel (van den Oord et al., 2016).

    ``params`` holds C blocks of 256 logits, channel by channel. The head
    treats channels as independent given ``params``; dependence between the
    channels of one pixel must come from the network (masked convolutions with
    channel groups), so sampling needs one network pass per channel.
    """

    def __init__(self, channels: int = 1):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        self.channels = int(channels)

    @property
    def num_params(self) -> int:
        return 256 * self.channels

    @property
    def passes_per_pixel(self) -> int:
        return self.channels

    def get_config(self):
        return {"kind": "categorical", "channels": self.channels}

    @classmethod
    def from_config(cls, config):
        return head_from_config(config)

    def __repr__(self):
        return f"Categorical(channels={self.channels})"

    def logits(self, params):
        """(B, H, W, 256 C) -> (B, H, W, C, 256)."""
        params = validation.check_params(params, self.num_params, "Categorical")
        return ops.reshape(params, (*_leading_shape(params), self.channels, 256))

    def log_prob(self, images, params, temperature=1.0):
        """uint8 images (B, H, W, C), params (B, H, W, 256 C) -> (B, H, W) nats; ``temperature`` as in
        ``sample`` (1: the model's own distribution)."""
        images = validation.check_images(images, self.channels)
        params = validation.check_params(params, self.num_params, "Categorical")
        validation.check_same_grid(images, params)
        logits = self.logits(params)
        if not (isinstance(temperature, (int, float)) and temperature == 1):
            logits = logits / check_temperature(temperature)
        log_p = ops.log_softmax(logits, axis=-1)
        picked = ops.take_along_axis(log_p, ops.cast(images, "int32")[..., None], axis=-1)[..., 0]
        return ops.sum(picked, axis=-1)

    def sample(self, params, seed=0, temperature=1.0):
        """params (B, H, W, 256 C) -> uint8 images (B, H, W, C); ``temperature`` T > 0 divides the logits by T
        (T = 1: the model's distribution, bit for bit the same images)."""
        seed = backend.seed_pair(seed)
        logits = self.logits(params) / check_temperature(temperature)
        u = backend.stateless_uniform(ops.shape(logits), seed, minval=1e-7, maxval=1.0 - 1e-7)
        return ops.cast(ops.argmax(logits - ops.log(-ops.log(u)), axis=-1), "uint8")


def check_temperature(temperature):
    """A sampling temperature as a float32 scalar tensor; a clear error unless it is a finite number > 0."""
    if ops.is_tensor(temperature) and not backend.is_concrete(temperature):
        return ops.cast(temperature, "float32")  # checked where it was made (``sampling``)
    try:
        value = float(ops.convert_to_numpy(temperature))
    except (TypeError, ValueError):
        raise TypeError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return ops.convert_to_tensor(np.float32(value))


def head_from_config(config: dict):
    """Inverse of ``head.get_config()``."""
    config = dict(config)
    kind = config.pop("kind")
    if kind == "logistic_mixture":
        return DiscretizedLogisticMixture(**config)
    if kind == "categorical":
        return Categorical(**config)
    raise ValueError(f"unknown head kind {kind!r}; expected 'logistic_mixture' or 'categorical'")
