"""Drift between a baseline window and a current window of spans, per model.

Three families of tests, each giving a p-value and an effect size:

* embeddings (prompt, response): MiniLM vectors compared with the maximum mean
  discrepancy (RBF kernel, median-distance bandwidth) and a permutation
  p-value; effect size = MMD².
* numeric (input/output tokens, latency, TTFT, cost per request):
  two-sample Kolmogorov-Smirnov p-value; effect size = population stability
  index over the baseline's deciles.
* categorical (finish reason, error type, tool usage, and across models the
  model mix): chi-squared test of homogeneity; effect size = Cramér's V.

About a dozen tests run per model and window, so uncorrected p-values would
raise a false alarm on most quiet days; Holm's step-down correction keeps the
chance of any false alarm per model and window near ``alpha``.  ``p_value``
in each result is the adjusted one (``details["p_raw"]`` the raw one).
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from .base import DriftResult, SpanRecord
from .embeddings import DEFAULT_MODEL, encode, load_encoder

NAME = "drift"
VERSION = "1"

NUMERIC: dict[str, Callable[[SpanRecord], float | None]] = {
    "input_tokens": lambda s: float(s.input_tokens),
    "output_tokens": lambda s: float(s.output_tokens),
    "latency_ms": lambda s: float(s.duration_ms),
    "ttft_ms": lambda s: s.ttft_ms,
    "cost_per_request": lambda s: s.cost_total,
}
CATEGORICAL: dict[str, Callable[[SpanRecord], str]] = {
    "finish_reason": lambda s: s.finish_reasons[0] if s.finish_reasons else "none",
    "error_type": lambda s: s.error_type or "none",
    "tool_usage": lambda s: "+".join(sorted(set(s.tool_names))) if s.tool_names else "none",
}
EMBEDDED: dict[str, Callable[[SpanRecord], str]] = {
    "prompt_embedding": lambda s: s.input_text,
    "response_embedding": lambda s: s.output_text,
}


@dataclass(frozen=True, slots=True)
class DriftConfig:
    embedding_model: str = DEFAULT_MODEL
    alpha: float = 0.05
    permutations: int = 500
    max_embedded: int = 300  # per window; a random subsample beyond that
    min_samples: int = 20  # per window and feature, else the feature is skipped
    psi_bins: int = 10
    features: tuple[str, ...] = tuple(EMBEDDED) + tuple(NUMERIC) + tuple(CATEGORICAL) + ("model",)
    seed: int = 0
    embedding_cache: int = 20_000  # texts whose vectors are kept between comparisons
    # Length of the current window and of the baseline before it; read by the
    # worker (evaluators/worker/runner.py), which selects the two windows.
    window_seconds: float = 3600.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DriftConfig:
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown drift parameters: {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        values = dict(params)
        if "features" in values:
            values["features"] = tuple(values["features"])
        cfg = cls(**values)
        known = set(EMBEDDED) | set(NUMERIC) | set(CATEGORICAL) | {"model"}
        if set(cfg.features) - known:
            raise ValueError(f"drift: unknown features {sorted(set(cfg.features) - known)}; known: {sorted(known)}")
        if isinstance(cfg.window_seconds, bool) or not isinstance(cfg.window_seconds, int | float) \
                or not 60 <= cfg.window_seconds <= 90 * 86400:
            raise ValueError("drift: window_seconds must be a number of seconds between 60 and 7776000 (90 days)")
        if not 0 < cfg.alpha < 1 or cfg.permutations < 19 or cfg.min_samples < 2:
            raise ValueError("drift: alpha must lie in (0, 1), permutations >= 19, min_samples >= 2")
        return cfg


# ---- the tests --------------------------------------------------------------------------------


def mmd_permutation(x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """Unbiased MMD² with an RBF kernel and its permutation p-value."""
    z = np.vstack([x, y])
    sq = np.maximum(2.0 - 2.0 * (z @ z.T), 0.0) if _unit_rows(z) else _sq_dists(z)
    off = sq[np.triu_indices_from(sq, k=1)]
    bandwidth = float(np.median(off)) or 1.0
    k = np.exp(-sq / bandwidth)
    np.fill_diagonal(k, 0.0)
    n, m = len(x), len(y)

    def stat(idx: np.ndarray) -> float:
        a, b = idx[:n], idx[n:]
        return (
            k[np.ix_(a, a)].sum() / (n * (n - 1))
            + k[np.ix_(b, b)].sum() / (m * (m - 1))
            - 2.0 * k[np.ix_(a, b)].sum() / (n * m)
        )

    observed = stat(np.arange(n + m))
    exceed = sum(stat(rng.permutation(n + m)) >= observed for _ in range(permutations))
    return float(observed), (exceed + 1) / (permutations + 1)


def _unit_rows(z: np.ndarray) -> bool:
    return bool(np.allclose(np.einsum("ij,ij->i", z, z), 1.0, atol=1e-3))


def _sq_dists(z: np.ndarray) -> np.ndarray:
    norms = np.einsum("ij,ij->i", z, z)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * z @ z.T, 0.0)


def psi(baseline: np.ndarray, current: np.ndarray, bins: int) -> float:
    """Population stability index over the baseline's quantile bins (ties merged)."""
    edges = np.unique(np.quantile(baseline, np.linspace(0, 1, bins + 1)[1:-1]))
    b = np.bincount(np.searchsorted(edges, baseline, side="right"), minlength=len(edges) + 1) / len(baseline)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    b, c = np.clip(b, 1e-4, None), np.clip(c, 1e-4, None)
    return float(np.sum((c - b) * np.log(c / b)))


def chi2_homogeneity(baseline: Sequence[str], current: Sequence[str]) -> tuple[float, float, float, dict[str, Any]]:
    """(chi², p, Cramér's V, shares) for two samples of labels."""
    cats = sorted(set(baseline) | set(current))
    cb, cc = Counter(baseline), Counter(current)
    table = np.array([[cb[c] for c in cats], [cc[c] for c in cats]], dtype=float)
    shares = {
        "baseline": {c: round(cb[c] / len(baseline), 4) for c in cats},
        "current": {c: round(cc[c] / len(current), 4) for c in cats},
    }
    if len(cats) < 2:
        return 0.0, 1.0, 0.0, shares
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    v = float(np.sqrt(chi2 / table.sum() / (min(table.shape) - 1)))
    return float(chi2), float(p), v, shares


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


# ---- the scorer --------------------------------------------------------------------------------


@dataclass
class _Cache:
    """Text -> vector, least recently used first out; owned by one scorer."""

    limit: int
    items: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)

    def get_many(self, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self.items}.items())
        if missing:
            vecs = compute([t for _, t in missing])
            for (k, _), v in zip(missing, vecs, strict=True):
                self.items[k] = v
        out = np.stack([self.items[k] for k in keys])
        for k in keys:
            self.items.move_to_end(k)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)
        return out


class DriftScorer:
    """WindowEvaluator "drift"."""

    name = NAME

    def __init__(self, config: DriftConfig | None = None):
        self.config = cfg = config or DriftConfig()
        self.version = f"{VERSION}-a{cfg.alpha:g}"
        wants_embeddings = any(f in EMBEDDED for f in cfg.features)
        self.encoder = load_encoder(cfg.embedding_model) if wants_embeddings else None
        self._cache = _Cache(cfg.embedding_cache)

    def compare(self, baseline: Sequence[SpanRecord], current: Sequence[SpanRecord]) -> list[DriftResult]:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        out: list[DriftResult] = []
        models = sorted({s.model for s in baseline} & {s.model for s in current})
        for model in models:
            b = [s for s in baseline if s.model == model]
            c = [s for s in current if s.model == model]
            out += self._corrected(self._model_tests(b, c, rng), model)
        if "model" in cfg.features and len(baseline) >= cfg.min_samples and len(current) >= cfg.min_samples:
            chi2, p, v, shares = chi2_homogeneity([s.model for s in baseline], [s.model for s in current])
            out += self._corrected(
                [DriftResult("model", "categorical", "chi2", chi2, p, v, False, len(baseline), len(current), shares)], "*"
            )
        return out

    def _corrected(self, results: list[DriftResult], model: str) -> list[DriftResult]:
        adjusted = holm([r.p_value if r.p_value is not None else 1.0 for r in results]) if results else []
        return [
            replace(
                r,
                p_value=round(p, 6),
                drifted=p < self.config.alpha,
                model=model,
                details={**r.details, "p_raw": r.p_value, "alpha": self.config.alpha, "correction": "holm"},
            )
            for r, p in zip(results, adjusted, strict=True)
        ]

    def _model_tests(self, b: list[SpanRecord], c: list[SpanRecord], rng: np.random.Generator) -> list[DriftResult]:
        cfg = self.config
        results: list[DriftResult] = []
        for feature, get in EMBEDDED.items():
            if feature not in cfg.features:
                continue
            xb = [t for t in map(get, b) if t.strip()]
            xc = [t for t in map(get, c) if t.strip()]
            if min(len(xb), len(xc)) < cfg.min_samples:
                continue
            xb, xc = _subsample(xb, cfg.max_embedded, rng), _subsample(xc, cfg.max_embedded, rng)
            assert self.encoder is not None
            vb = self._cache.get_many(xb, lambda ts: encode(self.encoder, ts))
            vc = self._cache.get_many(xc, lambda ts: encode(self.encoder, ts))
            mmd2, p = mmd_permutation(vb, vc, cfg.permutations, rng)
            centroid_cos = float(vb.mean(0) @ vc.mean(0) / (np.linalg.norm(vb.mean(0)) * np.linalg.norm(vc.mean(0))))
            results.append(
                DriftResult(feature, "embedding", "mmd_permutation", mmd2, p, mmd2, False, len(xb), len(xc),
                            {"permutations": cfg.permutations, "centroid_cosine": round(centroid_cos, 4)})
            )
        for feature, get in NUMERIC.items():
            if feature not in cfg.features:
                continue
            xb = np.array([v for v in map(get, b) if v is not None], dtype=float)
            xc = np.array([v for v in map(get, c) if v is not None], dtype=float)
            if min(len(xb), len(xc)) < cfg.min_samples:
                continue
            ks = stats.ks_2samp(xb, xc)
            index = psi(xb, xc, cfg.psi_bins)
            results.append(
                DriftResult(feature, "numeric", "ks", float(ks.statistic), float(ks.pvalue), index, False, len(xb), len(xc),
                            {"psi": round(index, 4), "baseline_median": float(np.median(xb)), "current_median": float(np.median(xc))})
            )
        for feature, get in CATEGORICAL.items():
            if feature not in cfg.features or min(len(b), len(c)) < cfg.min_samples:
                continue
            chi2, p, v, shares = chi2_homogeneity([get(s) for s in b], [get(s) for s in c])
            results.append(DriftResult(feature, "categorical", "chi2", chi2, p, v, False, len(b), len(c), shares))
        return results


def _subsample(items: list[str], limit: int, rng: np.random.Generator) -> list[str]:
    if len(items) <= limit:
        return items
    return [items[i] for i in sorted(rng.choice(len(items), size=limit, replace=False))]


def build(params: Mapping[str, Any]) -> DriftScorer:
    """Entry point the worker loads: ``evaluators.drift:build``."""
    return DriftScorer(DriftConfig.from_params(params or {}))
