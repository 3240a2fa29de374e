"""Checks of notebook 07 (landmark VAE): model 2's conditional networks, the KL-annealing callback, the triplets
(made by the rules, scored, and turned into a loss) on hidden inputs, and the figures that depend on them.

Keras pieces are checked on behaviour (``course_utils.probes``): the networks' inputs, output shapes,
dependence on the neutral face and a loss that falls over a few epochs; the callback's schedule set on a
stand-in model. ``make_triplets`` is checked against the rules, not against the reference's random draws.
The result checks use figures computed before any training (graded runs use the small profile): the shares of
test triplets satisfied by the raw landmarks and PCA, with the student's triplets and scoring. Their bounds
allow another valid random draw of triplets (the reference run: 0.543, 0.545, 0.545).
"""

import numpy as np

from course_utils import probes
from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference import landmark_vae as ref

EXERCISE = "07_landmark_vae"


def _network_cases(rng: np.random.Generator) -> list[tuple]:
    return [(12, 3, (8,), (8,), int(rng.integers(1000))), (20, 4, (16, 8), (8, 16), int(rng.integers(1000))),
            (9, 2, (6,), (6, 6), int(rng.integers(1000)))]


def _annealing_cases(rng: np.random.Generator) -> list[tuple]:
    warmup = int(rng.integers(3, 8))
    return [(4, 0.0, 1.0, False, 6), (0, 0.0, 1.0, False, 3), (warmup, 0.0, 1.0, True, warmup + 3),
            (5, 0.2, 0.9, True, 7), (2, 0.5, 1.0, False, 4)]


def _label_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for people, classes, levels in [(3, 2, 2), (5, 6, 4), (4, 3, 3), (2, 4, 1)]:
        expression = np.concatenate([[0] + [e for e in range(1, classes + 1) for _ in range(levels)]] * people)
        intensity = np.concatenate([[0] + list(range(1, levels + 1)) * classes] * people)
        order = rng.permutation(len(expression))
        n = len(expression)
        cases.append((expression[order], intensity[order], int(rng.integers(n, 5 * n)), int(rng.integers(1000))))
    return cases


def _satisfied_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, d, t in [(5, 2, 1), (30, 4, 50), (100, 30, 400), (10, 1, 20)]:
        cases.append((rng.normal(size=(n, d)), rng.integers(0, n, size=(t, 3))))
    z = np.round(rng.normal(size=(8, 2)))  # integer coordinates: ties happen
    cases.append((z, rng.integers(0, 8, size=(60, 3))))
    cases.append((rng.normal(size=(12, 3, 2)), rng.integers(0, 12, size=(30, 3))))  # rows flattened
    return cases


def _loss_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for t, d, variance, spread in [(1, 2, 1.0, 1.0), (20, 4, 0.04, 1.0), (50, 30, 0.5, 3.0), (8, 3, 2.0, 0.01)]:
        z_ref, z_pos, z_neg = rng.normal(scale=spread, size=(3, t, d))
        cases.append((z_ref, z_pos, z_neg, variance))
    z_ref = rng.normal(size=(10, 5))
    cases.append((z_ref, z_ref + 0.01, z_ref + 20.0, 1.0))  # every triplet satisfied by a wide margin
    cases.append((z_ref, z_ref + 20.0, z_ref + 0.01, 0.1))  # every triplet violated
    return cases


# Kit functions withheld while grading this notebook (course_utils/instructor/withhold.py): the conditional inputs
# of the kit's builders (build_encoder(..., condition_shape=...) and build_decoder(..., condition_dim=...) are
# build_conditional_networks). Model 1 of the notebook uses the unconditional builders, which stay.
WITHHELD = [
    "course_utils.vae:conditional_encoder_input",
    "course_utils.vae:conditional_decoder_input",
]

TRIPLET_PIECES = ("make_triplets", "satisfied_triplets")
"""The figures' triplets and their scoring are the student's: a bug there is charged once, by its own check."""

CHECKS = [
    FunctionCheck("build_conditional_networks", "build_conditional_networks", _network_cases,
                  ref.build_conditional_networks, points=3, probe=probes.conditional_networks_raw,
                  judge=probes.conditional_networks_facts, rtol=1e-4, atol=1e-5,
                  description="outputs of the encoder [x, y] and the decoder [z, y] with hidden weights on hidden "
                              "inputs (the sheet's layer sizes); the loss of model 2 falls in training"),
    FunctionCheck("KLAnnealing", "KLAnnealing", _annealing_cases, ref.KLAnnealing, points=3,
                  probe=probes.kl_annealing_schedule, rtol=1e-6, atol=1e-6,
                  description="beta (and the topological scale with whole_prior) set before each epoch"),
    FunctionCheck("make_triplets", "make_triplets", _label_cases, ref.make_triplets, points=3,
                  probe=probes.triplets_raw, judge=probes.triplet_facts,
                  description="shapes, indices, distinct faces, every face a reference, every triplet obeys its rule"),
    FunctionCheck("satisfied_triplets", "satisfied_triplets", _satisfied_cases, ref.satisfied_triplets, points=3,
                  returns=("share",),
                  description="share of triplets with d(ref, pos) <= d(ref, neg)"),
    FunctionCheck("triplet_loss", "triplet_loss", _loss_cases, ref.triplet_loss, points=3, rtol=1e-4, atol=1e-6,
                  returns=("loss",),
                  description="mean softplus(d(ref, pos) - d(ref, neg)) / topological variance"),
    ResultCheck("triplets_raw", "triplets_raw", points=1, bounds=(0.5, 0.6), depends_on=TRIPLET_PIECES,
                description="test triplets satisfied by the raw landmarks: your triplets, your scoring"),
    ResultCheck("triplets_pca", "triplets_pca", points=1, bounds=(0.5, 0.6), depends_on=TRIPLET_PIECES,
                description="test triplets satisfied by 30 principal components: your triplets, your scoring"),
    ResultCheck("triplets_pca_20", "triplets_pca_20", points=1, bounds=(0.5, 0.6), depends_on=TRIPLET_PIECES,
                description="test triplets satisfied by 20 principal components: your triplets, your scoring"),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {}

DEMO_BUGS: dict[str, list[tuple[str, str]]] = {
    "conditional_decoder_output_is_latent_sized": [
        ('keras.layers.Dense(data_dim, name="likelihood_params")(h)',
         'keras.layers.Dense(latent_dim, name="likelihood_params")(h)')],
    "kl_annealing_off_by_one_epoch": [("min(1.0, epoch / self.warmup)", "min(1.0, (epoch + 1) / self.warmup)")],
    "make_triplets_intensity_rule_reversed": [("if gap[pos] > gap[neg]:", "if gap[pos] < gap[neg]:")],
    "satisfied_triplets_reversed": [("<= np.linalg.norm(ref - neg, axis=1)", ">= np.linalg.norm(ref - neg, axis=1)")],
    "triplet_loss_distances_swapped": [("ops.softplus(d_pos - d_neg)", "ops.softplus(d_neg - d_pos)")],
    "triplet_loss_ignores_topological_variance": [("ops.mean(ops.softplus(d_pos - d_neg)) / topological_variance",
                                                   "ops.mean(ops.softplus(d_pos - d_neg))")],
    "satisfied_triplets_signed_sum": [("np.linalg.norm(ref - pos, axis=1) <= np.linalg.norm(ref - neg, axis=1)",
                                        "np.sum(ref - pos, axis=1) <= np.sum(ref - neg, axis=1)")],
}
