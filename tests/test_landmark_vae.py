"""Landmark VAEs: models 1-3 build, condition, train briefly with the triplet prior; usage and SVM metrics."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.data import Split
from course_utils.instructor.reference.landmark_vae import KLAnnealing, build_conditional_networks, triplet_loss
from course_utils.landmark_vae import (
    TopologicalVAE,
    build_landmark_vae,
    decoder_weight_norms,
    fit_landmark_vae,
    fit_on_split,
    fit_summary,
    kl_per_dimension,
)
from course_utils.vae import decode, encode, neg_elbo


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 12)).astype(np.float32)
    neutral = rng.normal(size=(60, 12)).astype(np.float32)
    triplets = rng.integers(0, 60, size=(80, 3))
    return x, neutral, triplets


def test_models_differ_only_where_the_thesis_says(faces):
    x, neutral, _ = faces
    m1, m2, m3 = (build_landmark_vae(12, model=m, latent_dim=3, encoder_hidden=(8,), decoder_hidden=(8,),
                                     networks=build_conditional_networks, triplet_loss=triplet_loss)
                  for m in (1, 2, 3))
    assert not m1.conditional and m2.conditional and m3.conditional and isinstance(m3, TopologicalVAE)
    assert m1.encoder.get_layer("hidden_1").activation.__name__ == "elu"
    assert m2.encoder.get_layer("hidden_1").kernel.shape == (24, 8)  # x and the neutral face
    assert m2.decoder.get_layer("hidden_1").kernel.shape == (15, 8)  # z and the neutral face
    z, _ = encode(m2, x, condition=neutral)
    assert z.shape == (60, 3) and decode(m2, z, condition=neutral).shape == (60, 12)
    with pytest.raises(ValueError, match="condition"):
        encode(m2, x)
    with pytest.raises(ValueError, match="not conditional"):
        encode(m1, x, condition=neutral)
    with pytest.raises(ValueError, match="model must be"):
        build_landmark_vae(12, model=4)
    with pytest.raises(ValueError, match="networks"):
        build_landmark_vae(12, model=2)
    with pytest.raises(ValueError, match="triplet_loss"):
        build_landmark_vae(12, model=3, networks=build_conditional_networks)


def test_model3_trains_with_a_given_triplet_loss(faces):
    x, neutral, triplets = faces
    calls = []

    def my_loss(z_ref, z_pos, z_neg, topological_variance=1.0):
        calls.append(z_ref.shape)
        return triplet_loss(z_ref, z_pos, z_neg, topological_variance)

    model = build_landmark_vae(12, model=3, latent_dim=3, encoder_hidden=(8,), decoder_hidden=(8,),
                               triplet_loss=my_loss, n_triplet_samples=4, networks=build_conditional_networks)
    result = fit_landmark_vae(model, x[:40], x[40:], neutral[:40], neutral[40:], triplets % 40, triplets % 20,
                              epochs=4, batch_size=20, triplet_batch_size=5, eval_every=2,
                              callbacks=[KLAnnealing(2, whole_prior=True)])
    shapes = [tuple(shape) for shape in calls]  # traced in training, then eager on the validation triplets
    assert all(shape[-1] == 3 for shape in shapes) and (80, 3) in shapes
    assert set(result.history) >= {"loss", "reconstruction", "kl", "triplet"}
    assert np.all(np.isfinite(result.history["triplet"])) and result.history["triplet"][0] > 0
    assert result.val_epochs.tolist() == [2, 4] and result.best_epoch in (2, 4)
    assert float(model.beta.numpy()) == 1.0 and float(model.topology_scale.numpy()) == 1.0
    with pytest.raises(ValueError, match="triplets"):
        fit_landmark_vae(model, x[:40], x[40:], neutral[:40], neutral[40:], epochs=1)
    with pytest.raises(ValueError, match="triplets_val index out of range"):
        fit_landmark_vae(model, x[:40], x[40:], neutral[:40], neutral[40:], triplets % 40, triplets, epochs=1)


def test_best_epoch_is_restored(faces):
    x, _, _ = faces
    model = build_landmark_vae(12, model=1, latent_dim=2, encoder_hidden=(8,), decoder_hidden=(8,))
    result = fit_landmark_vae(model, x[:40], x[40:], epochs=6, batch_size=20, eval_every=1,
                              callbacks=[KLAnnealing(3)])
    best = result.val_objective.min()
    assert result.val_objective[result.best_epoch - 1] == best
    assert neg_elbo(model, x[40:], n_samples=10, seed=0) == pytest.approx(best, rel=1e-5)


def test_usage_monitors(faces):
    x, neutral, _ = faces
    model = build_landmark_vae(12, model=2, latent_dim=3, encoder_hidden=(8,), decoder_hidden=(8,),
                               networks=build_conditional_networks)
    kl = kl_per_dimension(model, x, neutral)
    assert kl.shape == (3,) and np.all(kl >= 0)
    norms = decoder_weight_norms(model)
    kernel = np.asarray(model.decoder.get_layer("hidden_1").kernel)
    np.testing.assert_allclose(norms, np.linalg.norm(kernel[:3], axis=1))


def test_kl_annealing_schedule_and_probes():
    from course_utils import probes

    betas, scales = probes.kl_annealing_schedule(KLAnnealing, 4, 0.0, 1.0, False, 6)
    np.testing.assert_allclose(betas, [0, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_allclose(scales, 1.0)  # KL only: the topological term is left alone
    betas, scales = probes.kl_annealing_schedule(KLAnnealing, 2, 0.5, 0.9, True, 3)
    np.testing.assert_allclose(betas, [0.5, 0.7, 0.9]) and np.testing.assert_allclose(scales, betas)
    np.testing.assert_allclose(probes.kl_annealing_schedule(KLAnnealing, 0, 0.0, 1.0, False, 2)[0], 1.0)
    assert probes.conditional_networks_behaviour(build_conditional_networks, 12, 3, (8,), (8,), 0).tolist() == [1.0] * 9


def test_builder_leaves_the_global_generators_alone_and_the_call_site_seeds():
    import keras

    def weights():
        keras.utils.set_random_seed(0)  # at the call site, as notebook 07 does
        model = build_landmark_vae(12, model=1, latent_dim=2, encoder_hidden=(8,), decoder_hidden=(8,), seed=3)
        return [np.asarray(w) for w in model.get_weights()], np.random.random()  # noqa: NPY002 (the global one)

    (a, after_a), (b, after_b) = weights(), weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    keras.utils.set_random_seed(0)
    assert after_a == after_b == np.random.random()  # noqa: NPY002  (the builder did not reseed with its seed=3)


def test_fit_on_split_is_fit_landmark_vae_on_the_split_parts(faces):
    import keras

    x, neutral, triplets = faces
    split = Split(train=np.arange(0, 60, 2), val=np.arange(1, 60, 2), test=np.arange(0))
    parts = {"train": triplets % 30, "val": triplets[:20] % 30}

    def run(direct):
        keras.utils.set_random_seed(0)
        model = build_landmark_vae(12, model=3, latent_dim=2, encoder_hidden=(8,), decoder_hidden=(8,),
                                   networks=build_conditional_networks, triplet_loss=triplet_loss)
        kwargs = dict(epochs=2, batch_size=10, triplet_batch_size=5, eval_every=1)
        if direct:
            return model, fit_landmark_vae(model, x[split.train], x[split.val], neutral[split.train],
                                           neutral[split.val], parts["train"], parts["val"], **kwargs)
        return model, fit_on_split(model, x, split, parts, condition=neutral, **kwargs)

    (model, a), (_, b) = run(direct=False), run(direct=True)
    np.testing.assert_array_equal(a.val_objective, b.val_objective)
    assert a.history == b.history
    line = fit_summary(model, a)
    assert line.startswith("model_3: took ") and f"restored epoch {a.best_epoch} " in line and "'triplet'" in line
