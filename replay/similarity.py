"""How close two answers are: exact match, ROUGE-L and embedding cosine.

The scorers are built on first use, not at import: this module is on the
server's start path (the replay router imports the runner), and ROUGE pulls
rouge-score, nltk and absl, the embedding cosine torch and sentence-transformers.
A server that never builds a report never pays for them.

Embedding cosine uses the MiniLM model of the `evaluators` extra through
`evaluators.embeddings` (the same packaged model the grounding and drift
scorers load, offline).  Without that extra the cosine is absent from the
report, with the reason, and the other two measures still stand.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rouge_score.rouge_scorer import RougeScorer


@cache
def _rouge() -> RougeScorer:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"])


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1; two texts with no scorable tokens agree only if equal."""
    scorer = _rouge()
    score = scorer.score(a, b)["rougeL"].fmeasure
    if score == 0.0 and not scorer._tokenizer.tokenize(a) and not scorer._tokenizer.tokenize(b):  # noqa: SLF001
        return 1.0 if a.strip() == b.strip() else 0.0
    return float(score)


class Embedder:
    """Unit MiniLM vectors of texts, each distinct text encoded once per
    report (a baseline answer is compared with every candidate and with
    production).  `available` is False, with `reason`, when the model cannot
    be loaded here."""

    def __init__(self, model: str | None = None) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self.reason = ""
        self._encoder: Any = None
        try:
            from evaluators.embeddings import DEFAULT_MODEL, load_encoder

            self._encoder = load_encoder(model or DEFAULT_MODEL)
        except ImportError as exc:
            self.reason = f"not computed: the embedding model is not installed ({exc.name or exc}); install llmobs[evaluators]"
        except (OSError, ValueError) as exc:
            self.reason = f"not computed: the embedding model failed to load ({type(exc).__name__}: {exc})"

    @property
    def available(self) -> bool:
        return self._encoder is not None

    def _ensure(self, texts: Sequence[str]) -> None:
        from evaluators.embeddings import encode

        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vec in zip(missing, encode(self._encoder, missing), strict=True):
                self._vectors[text] = vec

    def cosines(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Cosine of each pair in [-1, 1]; two blank answers agree (1), a
        blank and a non-blank one do not (0), as with ROUGE-L."""
        self._ensure([t for pair in pairs for t in pair if t.strip()])
        out = np.empty(len(pairs), dtype=float)
        for i, (a, b) in enumerate(pairs):
            if not a.strip() or not b.strip():
                out[i] = 1.0 if a.strip() == b.strip() else 0.0
            else:
                out[i] = float(np.clip(self._vectors[a] @ self._vectors[b], -1.0, 1.0))
        return out
