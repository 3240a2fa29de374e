"""Notebook 05's CNN input, measured: the emote crop or the difference image (emote - neutral crop), 3 seeds.

    .venv/bin/python tools/exp_cnn05.py diff --momentum 0.9 --seeds 0 1 2     # what the notebook uses
    .venv/bin/python tools/exp_cnn05.py emote --momentum 0.9 --seeds 0 1 2    # the emote crop alone

Builds the data as notebook 05 does (reference answers of its exercises, subject split seed 0), trains the
reference CNN branch under the reference head with early stopping (patience 10, at most ``--epochs``) and prints
one JSON line per seed: test and validation accuracy, epochs, seconds. Expect a few minutes per seed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from course_utils.notebook import import_tensorflow


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["emote", "diff", "stack"], help="CNN input: crop, difference, both")
    parser.add_argument("--momentum", type=float, default=0.9, help="batch norm momentum (Keras default 0.99)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=80)
    args = parser.parse_args(argv)
    import_tensorflow()
    import keras
    from keras import layers

    from course_utils import classifiers as C
    from course_utils.data import attach_neutral, load_rafd, rafd_table, select_cameras
    from course_utils.instructor.reference.classifiers import build_classifier, subject_split
    from course_utils.instructor.reference.rafd import neutral_partner, parse_rafd_name
    from course_utils.landmarks import aligned_faces, detect_landmarks, extract_landmarks

    rafd = load_rafd(None, detect=detect_landmarks)
    frame = select_cameras(rafd_table(rafd.filenames, parse_rafd_name, folder=rafd.folder))
    faces = attach_neutral(frame, neutral_partner(frame))
    table = extract_landmarks(sorted(set(faces["path"]) | set(faces["neutral_path"])), progress=False)
    faces = faces[table.pairs_with_faces(faces["path"], faces["neutral_path"], source=str(rafd.folder))]
    faces = faces.reset_index(drop=True)
    emote = aligned_faces(list(faces["path"]), table, size=64).astype("float32") / 255
    neutral = aligned_faces(list(faces["neutral_path"]), table, size=64).astype("float32") / 255
    images = {"emote": emote, "diff": emote - neutral, "stack": np.concatenate([emote, emote - neutral], -1)}
    inputs = {"image": images[args.variant]}
    labels = faces["emotion"].cat.codes.to_numpy()
    split = subject_split(labels, faces["model"].to_numpy(), seed=0)

    def cnn(shape: tuple[int, ...]) -> keras.Model:
        x = image = keras.Input(shape=shape, name="image")
        for filters in (16, 32, 64):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=args.momentum)(x)
            x = layers.MaxPooling2D(2)(layers.Activation("relu")(x))
        x = layers.Dropout(0.4)(layers.Flatten()(x))
        return keras.Model(image, layers.Dense(64, activation="relu", name="image_embedding")(x))

    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model = build_classifier([cnn(inputs["image"].shape[1:])], n_classes=8, name="image")
        start = time.perf_counter()
        run = C.fit_and_score(model, inputs, labels, split, epochs=args.epochs, patience=10, seed=seed)
        print(json.dumps({"variant": args.variant, "momentum": args.momentum, "seed": seed,
                          "test": round(run["test"].accuracy, 3), "val": round(run["val"].accuracy, 3),
                          "epochs": len(run["history"]["loss"]), "seconds": round(time.perf_counter() - start)}),
              flush=True)


if __name__ == "__main__":
    main()
