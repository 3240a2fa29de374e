"""Benchmark: seconds per training epoch of the latent-2 MNIST VAE, and the fraction of the machine's ceiling.

Runs of the same MLP (784-512-256-2 / 2-256-512-784), Bernoulli likelihood, batch 128, Adam, on the
60 000 training images:

* a keras-io style model (its own sampling and ``train_step``, ``fit`` on a NumPy array, no XLA);
* notebook 03's reference model (``course_utils.instructor.reference.vae``, what the notebook trains) on
  the prefetched, dynamically binarised ``tf.data`` pipeline with a fixed batch shape, XLA off;
* the same with XLA on (``jit_compile=True``), one batch per call into TensorFlow;
* XLA on, 64 batches per call (Keras's ``steps_per_execution``), the pipeline on TensorFlow's shared,
  autotuned thread pool;
* the same with the pipeline on one private thread (``make_dataset(threads=1)``), as notebook 03 trains it.

The *ceiling* is the time the epoch's matrix products would take at NumPy's float32 GEMM speed on this
machine: FLOP per epoch = 6 x (multiply-adds of all dense kernels per image) x images (forward 2, backward
4), about 3.8e11, divided by the GFLOP/s that ``numpy.matmul`` reaches at 128 x 784 x 512 (measured here,
in this process, right before the runs). ``fraction of ceiling`` = ceiling / measured epoch time. Run it
on an idle machine: under load the two suffer differently (at a load average near 5 on 2 cores NumPy's
GEMM fell to 7-10 GFLOP/s, a "ceiling" of 40-57 s, while XLA epochs took 10-14 s), and the fraction means
nothing.

Usage: ``python tools/bench_vae.py [--epochs 4]``. The first epoch (tracing, compilation) is reported apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course_utils.notebook import import_tensorflow  # noqa: E402

tf = import_tensorflow()  # first: TensorFlow starts quietly, before the kit's model modules import it
import keras  # noqa: E402

from course_utils import vae as V  # noqa: E402
from course_utils.data import load_mnist  # noqa: E402
from course_utils.instructor.reference import vae as R  # noqa: E402

ops, layers = keras.ops, keras.layers


class RefSampling(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean))
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class RefVAE(keras.Model):
    """The keras-io VAE, with MLP networks."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(
                ops.expand_dims(data, -1), ops.expand_dims(reconstruction, -1)), axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            total_loss = reconstruction_loss + ops.mean(ops.sum(kl_loss, axis=1))
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        return {"loss": self.total_loss_tracker.result()}


def keras_io_model(latent_dim: int = 2) -> RefVAE:
    inputs = keras.Input(shape=(28, 28))
    x = layers.Flatten()(inputs)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(256, activation="relu")(x)
    z_mean, z_log_var = layers.Dense(latent_dim)(x), layers.Dense(latent_dim)(x)
    encoder = keras.Model(inputs, [z_mean, z_log_var, RefSampling()([z_mean, z_log_var])])
    latent = keras.Input(shape=(latent_dim,))
    y = layers.Dense(256, activation="relu")(latent)
    y = layers.Dense(512, activation="relu")(y)
    outputs = layers.Reshape((28, 28))(layers.Dense(784, activation="sigmoid")(y))
    model = RefVAE(encoder, keras.Model(latent, outputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def flop_per_epoch(model: keras.Model, n_images: int) -> float:
    """6 x multiply-adds of every dense kernel per image x images (forward 2 FLOP per multiply-add, backward 4)."""
    kernels = [w for w in model.trainable_weights if len(w.shape) == 2]
    return 6.0 * sum(int(np.prod(w.shape)) for w in kernels) * n_images


def gemm_gflops(repeat: int = 200) -> float:
    """float32 GEMM speed of ``numpy.matmul`` at 128 x 784 x 512 (the first layer's shape), in GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = rng.random((128, 784), np.float32), rng.random((784, 512), np.float32)
    for _ in range(10):
        a @ b
    best = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat // 5):
            a @ b
        best.append((time.perf_counter() - start) / (repeat // 5))
    return 2 * 128 * 784 * 512 / min(best) / 1e9


def epoch_seconds(fit) -> list[float]:
    timer = V.EpochTimer()
    fit(timer)
    return timer.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    x = (load_mnist().data / 255.0).astype(np.float32)
    load = os.getloadavg()[0]
    gflops = gemm_gflops()

    keras.utils.set_random_seed(0)
    ref = keras_io_model()
    runs = {"keras-io style, NumPy input, XLA off": epoch_seconds(
        lambda t: ref.fit(x, epochs=args.epochs, batch_size=128, verbose=0, callbacks=[t]))}
    flop = None
    # (XLA, steps per execution, tf.data threads: None = TensorFlow's shared autotuned pool)
    for jit, steps, threads in [(False, 1, None), (True, 1, None), (True, 64, None), (True, 64, 1)]:
        keras.utils.set_random_seed(0)
        model = R.VAE(R.build_encoder(2), R.build_decoder(2))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit, steps_per_execution=steps)
        flop = flop_per_epoch(model, len(x))
        data = V.make_dataset(x, 128, binarize=True, drop_remainder=True, threads=threads)
        name = (f"notebook 03 model, XLA {'on' if jit else 'off'}, {steps} step{'s' if steps > 1 else ''}/call, "
                f"tf.data {'shared pool' if threads is None else f'{threads} own thread'}")
        runs[name] = epoch_seconds(
            lambda t, model=model, data=data: model.fit(data, epochs=args.epochs, verbose=0, shuffle=False,
                                                        callbacks=[t]))

    ceiling = flop / (gflops * 1e9)
    print(f"{len(os.sched_getaffinity(0))} CPU cores available to this process; load average {load:.2f} at the start")
    print(f"NumPy float32 GEMM 128x784x512: {gflops:.1f} GFLOP/s; {flop:.3g} FLOP per epoch; "
          f"ceiling {ceiling:.2f} s per epoch")
    for name, times in runs.items():
        steady = float(np.median(times[1:])) if len(times) > 1 else times[0]
        print(f"{name:70s} first epoch {times[0]:5.2f} s, then median {steady:5.2f} s/epoch "
              f"= {ceiling / steady:.2f} of the ceiling (each: {', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
