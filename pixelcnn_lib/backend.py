"""The few things ``keras.ops`` does not say the same way on every Keras backend.

The layers, heads, models and samplers are written with ``keras.ops``, so
they run on TensorFlow (the default), JAX and PyTorch. Four needs are not
covered by it, and are answered here once per backend:

* counter-based ("stateless") random draws from an explicit seed pair, so a
  sampling step's seed is an ordinary tensor argument of a compiled function
  (``keras.random`` takes an int or a ``SeedGenerator``, not a seed tensor);
* whether a tensor holds values now (eager) or is being traced, which decides
  whether data-dependent initialisation may assign weights;
* compiling a pure function of tensors (``tf.function``, ``jax.jit``; PyTorch
  runs eagerly);
* the gradient of a function with respect to its input, which the teaching
  tools' receptive fields read (``tf.GradientTape``, ``jax.grad``,
  ``torch.autograd``; Keras computes gradients only inside each backend's
  ``train_step``).

On TensorFlow the draws are ``tf.random.stateless_uniform`` and
``stateless_split``, on JAX ``jax.random.uniform`` and ``split`` on the pair as
a raw key; PyTorch seeds a ``torch.Generator`` from the pair. The same seed
gives the same draws on one backend; draws differ between backends.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import ops


def name() -> str:
    """The Keras backend in use: "tensorflow", "jax" or "torch"."""
    return keras.backend.backend()


def dtype_name(t) -> str:
    """The standard name of ``t``'s dtype ("uint8", "float32", ...), for a tensor or array of any backend."""
    return keras.backend.standardize_dtype(t.dtype)


def is_integer_dtype(dtype: str) -> bool:
    return dtype.startswith("int") or dtype.startswith("uint")


def is_concrete(t=None) -> bool:
    """True when ``t`` (or, without one, the current code) holds values now, False while it is traced."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return False
        return t is None or not (isinstance(t, tf.Tensor) and not hasattr(t, "numpy"))
    if backend == "jax":
        import jax

        return t is None or not isinstance(t, jax.core.Tracer)
    return True


def replicas_in_sync() -> int:
    """How many replicas each compute a share of the current step: the ``tf.distribute`` strategy's, else 1."""
    if name() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def across_workers(model) -> bool:
    """Whether ``model`` trains under TensorFlow's ``MultiWorkerMirroredStrategy`` with a cluster of workers."""
    if name() != "tensorflow":
        return False
    import tensorflow as tf

    strategy = model.distribute_strategy
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and bool(strategy.cluster_resolver.cluster_spec().as_dict()))


def seed_pair(seed):
    """An int or a length-2 int tensor -> the int32 pair the stateless draws take."""
    if isinstance(seed, (int, np.integer)):
        return ops.convert_to_tensor(np.array([int(seed) % (2**31 - 1), 0], np.int32))
    seed = ops.convert_to_tensor(seed)
    if len(seed.shape) != 1 or seed.shape[0] != 2:
        raise ValueError(f"seed must be an int or a pair of ints, got shape {tuple(seed.shape)}")
    return ops.cast(seed, "int32")


def split_seed(seed, count):
    """``count`` independent seed pairs made from one, as a list."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.unstack(tf.random.experimental.stateless_split(seed, count))
    if backend == "jax":
        import jax

        keys = jax.random.split(ops.cast(seed, "uint32"), count)
        return [ops.cast(k, "int32") for k in keys]
    base = [int(s) for s in ops.convert_to_numpy(seed)]
    return [ops.convert_to_tensor(np.array([base[0], (base[1] * count + k + 1) % (2**31 - 1)], np.int32))
            for k in range(count)]


def stateless_uniform(shape, seed, minval=0.0, maxval=1.0, dtype="float32"):
    """Uniform draws in [minval, maxval) of ``shape``, a function of ``seed`` (an int32 pair) alone."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval, dtype=dtype)
    if backend == "jax":
        import jax

        key = ops.cast(seed, "uint32")
        return jax.random.uniform(key, tuple(shape), dtype=dtype, minval=minval, maxval=maxval)
    import torch

    first, second = (int(s) for s in ops.convert_to_numpy(seed))
    generator = torch.Generator().manual_seed((first * 2654435761 + second) & 0xFFFFFFFF)
    u = torch.rand(tuple(int(d) for d in shape), generator=generator, dtype=getattr(torch, dtype))
    return ops.convert_to_tensor(u * (maxval - minval) + minval)


def compile_function(fn):
    """``fn`` compiled for the backend: ``tf.function`` (retracing reduced), ``jax.jit``, or ``fn`` on PyTorch.

    ``fn`` must be a pure function of its tensor arguments (on JAX, weights
    it reads are baked in when it is traced: pass them as arguments, as
    ``stateless_model_function`` does).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        # no autograph: the library's Python control flow is over static values only, and tracing is faster
        return tf.function(fn, reduce_retracing=True, autograph=False)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def stateless_model_function(model, fn):
    """A compiled ``fn(model_call, *args)``, where ``model_call(x)`` runs ``model`` with its current weights.

    On TensorFlow the model's variables are read inside the ``tf.function``;
    on JAX they are passed in as arguments of the jitted function on every
    call (``model.stateless_call``), so later weight updates are seen without
    recompiling.
    """
    # the compiled function reaches a Keras model through a weak reference, so that keeping it (per model, in
    # ``compiled.per_model``) does not keep the model alive
    ref = weakref.ref(model) if isinstance(model, keras.Model) else (lambda: model)

    def model_call(x):
        return ref()(x, training=False)

    if name() != "jax" or not isinstance(model, keras.Model):  # (a plain callable has no weights to pass)
        def call(*args):
            return fn(model_call, *args)

        return compile_function(call)

    def pure(trainable, non_trainable, *args):
        def stateless_model_call(x):
            out, _ = ref().stateless_call(trainable, non_trainable, x, training=False)
            return out

        return fn(stateless_model_call, *args)

    compiled = compile_function(pure)

    def jax_call(*args):
        current = ref()
        return compiled([v.value for v in current.trainable_variables],
                        [v.value for v in current.non_trainable_variables], *args)

    return jax_call


def input_gradient(fn, x):
    """The gradient of the scalar ``fn(x)`` with respect to ``x`` (a float32 numpy array), as numpy."""
    backend = name()
    x = np.asarray(x, np.float32)
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return tape.gradient(value, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(jax.numpy.asarray(x)))
    x = ops.convert_to_tensor(x).detach().requires_grad_(True)
    fn(x).backward()
    return x.grad.cpu().numpy()
