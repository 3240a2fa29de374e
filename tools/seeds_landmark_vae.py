"""Robustness of notebook 07 over training seeds: retrain models on the same data, split and triplets.

Same preprocessing, split (seed 0), triplets, architecture and budget as ``notebooks/07_landmark_vae.ipynb``
(the instructor's reference answers, ``course_utils.instructor.reference.landmark_vae``, instead of the
exercises' functions, which compute the same things); only the seed of
the weights, dropout and sampling changes. Prints the PCA baseline and, per model and seed, the test SVM
accuracy and the share of satisfied test (and training) triplets.

Usage::

    .venv/bin/python tools/seeds_landmark_vae.py --seeds 1 2 --models 3 --epochs 300   # notebook 07's model 3
"""

from __future__ import annotations

import argparse
import sys

from sklearn.decomposition import PCA

from course_utils.data import split_by_person
from course_utils.data.face_landmarks import load_face_landmarks, normalize_faces
from course_utils.instructor.reference.landmark_vae import (
    KLAnnealing,
    build_conditional_networks,
    make_triplets,
    satisfied_triplets,
    triplet_loss,
)
from course_utils.notebook import import_tensorflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", type=int, nargs="+", default=[3], choices=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=150)
    args = parser.parse_args(argv)
    import_tensorflow()  # quiet start-up, before the kit's model modules import TensorFlow
    import keras

    from course_utils import vae
    from course_utils.classifiers import linear_svm_accuracy
    from course_utils.landmark_vae import build_landmark_vae, fit_landmark_vae

    faces = load_face_landmarks(seed=0)
    x_all = normalize_faces(faces.data, faces.right_eye_lower, faces.left_eye_lower).reshape(2500, -1)
    y_all = normalize_faces(faces.neutral, faces.right_eye_lower, faces.left_eye_lower).reshape(2500, -1)
    split = split_by_person(faces.person, seed=0)
    mean_face = x_all[split.train].mean(axis=0)
    X, Y, labels = x_all - mean_face, y_all - mean_face, faces.target
    triplets = {name: make_triplets(labels[index], faces.intensity[index], seed=seed)[0]
                for seed, (name, index) in enumerate(split.parts().items())}
    test = split.test
    X_pca = PCA(n_components=30, svd_solver="full").fit(X[split.train]).transform(X)
    print(f"PCA (30-D): SVM accuracy {linear_svm_accuracy(X_pca, labels, split).test:.3f}, "
          f"satisfied triplets {satisfied_triplets(X_pca[test], triplets['test']):.3f}")
    for model_number in args.models:
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)  # the initial weights, as notebook 07 seeds them
            model = build_landmark_vae(X.shape[1], model=model_number, seed=seed, triplet_loss=triplet_loss,
                                       networks=build_conditional_networks)
            condition = Y if model_number > 1 else None
            train, val = (None, None) if condition is None else (condition[split.train], condition[split.val])
            result = fit_landmark_vae(model, X[split.train], X[split.val], train, val, triplets["train"],
                                      triplets["val"], epochs=args.epochs, seed=seed,
                                      callbacks=[KLAnnealing(args.epochs // 2)])
            codes = vae.encode(model, X, condition=condition)[0]
            accuracy = linear_svm_accuracy(codes, labels, split).test
            print(f"model {model_number}, seed {seed}: SVM accuracy {accuracy:.3f}, "
                  f"satisfied triplets {satisfied_triplets(codes[test], triplets['test']):.3f} "
                  f"(training triplets {satisfied_triplets(codes[split.train], triplets['train']):.3f}) "
                  f"(restored epoch {result.best_epoch}, {result.seconds:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
