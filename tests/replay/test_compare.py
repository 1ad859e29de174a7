"""The report's arithmetic and verdict on known inputs."""

from __future__ import annotations

import pytest

from replay.compare import VariantInput, build_report, rouge_l
from replay.config import Thresholds


def rows(e2e_ms: list[float], texts: list[str], status: str = "ok") -> list[dict]:
    return [
        {"source_span_id": f"s{i}", "status": status, "ttft_ns": int(ms * 1e6 / 4), "e2e_ns": int(ms * 1e6),
         "itl_ns": [int(1e6)] * 3, "input_tokens": 10, "output_tokens": 4, "output_text": t}
        for i, (ms, t) in enumerate(zip(e2e_ms, texts))
    ]  # fmt: skip


TEXTS = [f"answer number {i} is here" for i in range(30)]
BASE_MS = [100.0 + 3 * i for i in range(30)]


def report(cand_ms: list[float], cand_texts: list[str], errors: int = 0) -> dict:
    cand = rows(cand_ms, cand_texts)
    for r in cand[:errors]:
        r["status"] = "error"
    return build_report(
        [VariantInput("base", rows(BASE_MS, TEXTS), 10.0, [], gpu_hour_usd=2.0, gpus=2),
         VariantInput("cand", cand, 8.0, [])],
        "base", {f"s{i}": t for i, t in enumerate(TEXTS)}, Thresholds(), {"content_not_captured": 2}, 32,
    )  # fmt: skip


def test_faster_and_identical_candidate_wins():
    r = report([ms * 0.7 for ms in BASE_MS], TEXTS)
    cand = r["variants"]["cand"]
    assert cand["verdict"] == {"status": "pass", "reasons": [], "p95_latency_change": pytest.approx(-0.3), "wins": True}
    assert cand["vs_baseline"]["exact_match"] == 1.0 and cand["vs_baseline"]["rouge_l"] == 1.0
    assert cand["paired"]["e2e"]["mean_diff_ms"] < 0
    lo, hi = cand["paired"]["e2e"]["p95_ratio_ci95"]
    assert (lo, hi) == (pytest.approx(0.7), pytest.approx(0.7))  # every request 30 % faster
    assert r["variants"]["base"]["cost_self_hosted_usd"] == pytest.approx(2.0 * 2 * 10 / 3600)
    assert r["variants"]["base"]["requests_per_second"] == pytest.approx(3.0)
    assert (r["selected"], r["replayable"], r["verdict"]) == (32, 30, "pass")


def test_slower_candidate_fails_on_p95():
    r = report([ms * 1.2 for ms in BASE_MS], TEXTS)
    v = r["variants"]["cand"]["verdict"]
    assert v["status"] == "fail" and "e2e p95 +20.0%" in v["reasons"][0]
    assert r["verdict"] == "fail"


def test_disagreeing_candidate_fails_on_agreement_and_errors():
    r = report(BASE_MS, ["something else entirely"] * 30, errors=3)
    cand = r["variants"]["cand"]
    assert cand["vs_baseline"]["exact_match"] == 0.0 and cand["vs_baseline"]["rouge_l"] < 0.5
    reasons = " ".join(cand["verdict"]["reasons"])
    assert "agreement with baseline" in reasons and "error rate 10.0%" in reasons


def test_rouge_l():
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("", "") == 1.0 and rouge_l("...", "!!!") == 0.0
    assert 0 < rouge_l("the cat sat on the mat", "the cat lay on a mat") < 1
