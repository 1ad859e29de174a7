"""The "drift" window scorer: planted shifts are found, resampled baselines stay quiet."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from evaluators.base import WindowEvaluator
from evaluators.drift import DriftConfig, holm, mmd_permutation, psi

from ._traffic import BASELINE, Traffic

N = 150


def drifted(results) -> set[tuple[str, str]]:
    return {(r.model, r.feature) for r in results if r.drifted}


@pytest.fixture(scope="module")
def baseline():
    return Traffic(seed=1).window(BASELINE, N)


def test_same_traffic_is_quiet(drift_scorer, baseline) -> None:
    assert isinstance(drift_scorer, WindowEvaluator) and drift_scorer.name == "drift"
    results = drift_scorer.compare(baseline, Traffic(seed=2).window(BASELINE, N, start=10_000))
    features = {r.feature for r in results}
    assert features == {"prompt_embedding", "response_embedding", "input_tokens", "output_tokens", "latency_ms",
                        "ttft_ms", "cost_per_request", "finish_reason", "error_type", "tool_usage", "model"}
    assert drifted(results) == set()
    for r in results:
        assert r.p_value is not None and 0 <= r.p_value <= 1 and r.p_value >= r.details["p_raw"]
        assert r.baseline_n > 0 and r.current_n > 0 and r.effect_size is not None


def test_new_topic_mix_moves_prompt_embeddings(drift_scorer, baseline) -> None:
    shifted = replace(BASELINE, topics={"cooking": 0.15, "travel": 0.15, "support": 0.2, "coding": 0.5})
    results = drift_scorer.compare(baseline, Traffic(seed=3).window(shifted, N, start=10_000))
    assert ("gpt-4o", "prompt_embedding") in drifted(results)
    assert ("gpt-4o", "response_embedding") not in drifted(results)


def test_longer_prompts_move_input_tokens(drift_scorer, baseline) -> None:
    results = drift_scorer.compare(baseline, Traffic(seed=4).window(replace(BASELINE, prompt_scale=1.5), N, start=10_000))
    found = drifted(results)
    assert {("gpt-4o", "input_tokens"), ("gpt-4o", "cost_per_request")} <= found
    tokens = next(r for r in results if r.feature == "input_tokens")
    assert tokens.effect_size > 0.25 and tokens.details["current_median"] > tokens.details["baseline_median"]
    assert ("gpt-4o", "output_tokens") not in found


def test_model_swap_behind_the_same_name(drift_scorer, baseline) -> None:
    """A provider serves another model under the old name: wordier, slower, cut off more often."""
    swapped = replace(BASELINE, style="verbose", length_share=0.2, ms_per_token=25.0, ttft_ms=600.0)
    found = drifted(drift_scorer.compare(baseline, Traffic(seed=5).window(swapped, N, start=10_000)))
    assert {("gpt-4o", f) for f in ("response_embedding", "output_tokens", "latency_ms", "ttft_ms", "finish_reason")} <= found
    assert ("gpt-4o", "prompt_embedding") not in found


def test_model_mix_change_is_seen_across_models(drift_scorer, baseline) -> None:
    traffic = Traffic(seed=6)
    current = traffic.window(BASELINE, N // 2, start=10_000) + traffic.window(replace(BASELINE, model="gpt-4o-mini"), N, start=20_000)
    results = drift_scorer.compare(baseline, current)
    assert ("*", "model") in drifted(results)
    assert {r.model for r in results} == {"gpt-4o", "*"}  # a model without a baseline is not compared


def test_false_alarm_rate_on_resampled_baseline(drift_scorer) -> None:
    """Split one stationary pool into two windows many times: with Holm's correction the
    share of comparisons raising any alarm stays near alpha (0.05)."""
    pool = Traffic(seed=7).window(BASELINE, 2 * N)
    rng = random.Random(0)
    resamples = 40
    alarms = []
    for _ in range(resamples):
        rng.shuffle(pool)
        alarms.append(bool(drifted(drift_scorer.compare(pool[:N], pool[N:]))))
    rate = sum(alarms) / resamples
    print(f"\nfalse-alarm rate over {resamples} resamples of one pool: {rate:.3f} (alpha 0.05, Holm)")
    assert rate <= 0.125


def test_statistics_helpers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    same = mmd_permutation(x[:30], x[30:], 199, rng)[1]
    shifted = mmd_permutation(x[:30], x[30:] + 1.0, 199, rng)[1]
    assert shifted <= 0.01 < same
    base = rng.normal(size=2000)
    assert psi(base, rng.normal(size=2000), 10) < 0.05 < 0.25 < psi(base, rng.normal(1.0, size=2000), 10)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_window_length_is_a_drift_parameter() -> None:
    """The worker reads `window_seconds` from the same params the scorer is built with."""
    assert DriftConfig.from_params({"window_seconds": 600}).window_seconds == 600
    for bad in (0, 30, "1h", True, 10**9):
        with pytest.raises(ValueError, match="window_seconds"):
            DriftConfig.from_params({"window_seconds": bad})


def test_bad_params() -> None:
    with pytest.raises(ValueError, match="unknown drift parameters"):
        DriftConfig.from_params({"alfa": 0.1})
    with pytest.raises(ValueError, match="unknown features"):
        DriftConfig.from_params({"features": ["vibes"]})
