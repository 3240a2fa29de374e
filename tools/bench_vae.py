"""Benchmark: one training epoch of the latent-2 MNIST VAE, the kit's model against a keras-io reference.

Both models have the same MLP (784-512-256-2 / 2-256-512-784), Bernoulli likelihood, batch 128 and Adam;
the reference is written the way the keras-io VAE example is (its own Sampling layer and train_step,
``fit`` on a NumPy array, no tf.data, no XLA). The kit's uses ``course_utils.vae`` with a prefetched
``tf.data`` pipeline and XLA (``jit_compile``). Each model trains ``--epochs`` epochs; the first epoch
(tracing, compilation) is reported separately and the rest are averaged.

Usage: ``python tools/bench_vae.py [--epochs 3]``. Prints seconds per epoch and the ratio kit / reference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course_utils import vae as V  # noqa: E402
from course_utils.data import load_mnist  # noqa: E402

keras, tf = V.keras, V.tf
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


def reference_model(latent_dim: int = 2) -> RefVAE:
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


def epoch_seconds(fit) -> list[float]:
    timer = V.EpochTimer()
    fit(timer)
    return timer.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    x = (load_mnist().x_train / 255.0).astype(np.float32)

    keras.utils.set_random_seed(0)
    ref = reference_model()
    ref_times = epoch_seconds(lambda t: ref.fit(x, epochs=args.epochs, batch_size=128, verbose=0, callbacks=[t]))

    runs = {"reference (keras-io style)": ref_times}
    for jit in (False, True):
        kit = V.build_vae((28, 28), 2, seed=0, jit_compile=jit)
        data = V.make_dataset(x, 128)
        runs[f"course_utils.vae, tf.data, XLA {'on' if jit else 'off'}"] = epoch_seconds(
            lambda t, kit=kit, data=data: kit.fit(data, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[t]))

    print(f"{len(__import__('os').sched_getaffinity(0))} CPU cores available to this process")
    for name, times in runs.items():
        print(f"{name:40s} first epoch {times[0]:6.2f} s, then {np.mean(times[1:]):6.2f} s/epoch "
              f"(each: {', '.join(f'{t:.2f}' for t in times)})")
    reference = np.mean(ref_times[1:])
    for name, times in list(runs.items())[1:]:
        print(f"ratio {name} / reference (epochs after the first): {np.mean(times[1:]) / reference:.2f}  (goal <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
