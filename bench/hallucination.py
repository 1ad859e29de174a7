"""Hallucination bench: how well each faithfulness scorer separates grounded from ungrounded answers.

    python -m bench.hallucination [--contexts 60] [--seed 3]
    python -m bench.hallucination --judge-url http://127.0.0.1:8011/v1 --judge-model smollm2 --judge-cases 20

1. Labelled cases from bench/hallucination_cases.py (60 contexts -> 384
   cases, half grounded; the ungrounded half with one subtle error each:
   swapped number, name, date or place, or a claim the context never makes).
2. Scorers: the offline "grounding" scorer (MiniLM + anchors), and as the
   baseline measured in the same run the same model with embeddings only
   (anchor_weight 0).  With --judge-url also the ragas and deepeval judge
   scorers on the first --judge-cases cases (each case costs several judge calls).
3. For each scorer: AUROC (grounded = positive class, higher score = more
   faithful), the threshold with the best F1 for detecting ungrounded answers
   and that F1, detection rate per error kind at that threshold, failures
   (no score), and CPU seconds per case.  Ratios are to the embeddings-only
   baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # `python bench/hallucination.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.hallucination_cases import Case, CaseGenerator  # noqa: E402
from evaluators.base import SpanRecord  # noqa: E402


def span(i: int, case: Case) -> SpanRecord:
    return SpanRecord(
        project_id="bench", trace_id=f"{i:032x}", span_id=f"{i:016x}", start_time_ns=0,
        input_messages=[{"role": "user", "parts": [{"type": "text", "content": case.question}]}],
        output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": case.answer}]}],
        context=case.context,
    )


def summarise(cases: list[Case], scores: list[float | None]) -> dict[str, object]:
    from sklearn.metrics import roc_auc_score

    pairs = [(c, s) for c, s in zip(cases, scores, strict=True) if s is not None]
    failures = len(cases) - len(pairs)
    labels = [c.grounded for c, _ in pairs]
    values = [s for _, s in pairs]
    if len(set(labels)) < 2:
        return {"auroc": float("nan"), "threshold": float("nan"), "f1": float("nan"), "failures": failures, "caught": {}}
    auroc = roc_auc_score(labels, values)
    # Detect ungrounded answers: flagged when score < threshold.
    best = (0.0, 0.0)
    for t in sorted(set(values)) + [max(values) + 1e-9]:
        tp = sum(1 for c, s in pairs if s < t and not c.grounded)
        fp = sum(1 for c, s in pairs if s < t and c.grounded)
        fn = sum(1 for c, s in pairs if s >= t and not c.grounded)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best[0]:
            best = (f1, t)
    kinds = Counter(c.error for c, _ in pairs if not c.grounded)
    caught = Counter(c.error for c, s in pairs if not c.grounded and s < best[1])
    return {"auroc": auroc, "threshold": best[1], "f1": best[0], "failures": failures,
            "caught": {k: f"{caught[k]}/{n}" for k, n in sorted(kinds.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contexts", type=int, default=60)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--judge-url", default=None)
    ap.add_argument("--judge-model", default="smollm2")
    ap.add_argument("--judge-key", default="not-needed")
    ap.add_argument("--judge-cases", type=int, default=20)
    args = ap.parse_args()

    from evaluators import grounding

    cases = CaseGenerator(seed=args.seed).cases(args.contexts)
    print(f"cases: {len(cases)} ({sum(c.grounded for c in cases)} grounded; ungrounded by kind: "
          f"{dict(sorted(Counter(c.error for c in cases if not c.grounded).items()))})")
    spans = [span(i, c) for i, c in enumerate(cases)]

    rows: list[tuple[str, int, dict[str, object], float]] = []

    def run(name: str, scorer: object, subset: int | None = None) -> None:
        todo = spans[:subset] if subset else spans
        t0 = time.process_time()
        results = scorer.evaluate(todo)  # type: ignore[attr-defined]
        cpu = (time.process_time() - t0) / len(todo)
        rows.append((name, len(todo), summarise(cases[: len(todo)], [r.score for r in results]), cpu))
        failures = Counter(r.label for r in results if r.score is None)
        if failures:
            print(f"{name}: no score for {sum(failures.values())} cases: {dict(failures)}")

    run("embeddings only (baseline)", grounding.build({"anchor_weight": 0.0}))
    run("grounding (ours)", grounding.build({}))
    if args.judge_url:
        from evaluators import judge

        params = {"base_url": args.judge_url, "model": args.judge_model, "api_key": args.judge_key}
        run(f"ragas faithfulness [{args.judge_model}]", judge.build_ragas(params), args.judge_cases)
        run(f"deepeval hallucination [{args.judge_model}]", judge.build_deepeval(params), args.judge_cases)

    base_auroc = rows[0][2]["auroc"]
    print(f"\n{'scorer':<36} {'cases':>5} {'AUROC':>6} {'ratio':>6} {'best-F1 thr':>11} {'F1':>6} {'no score':>8} {'CPU ms/case':>11}  caught at thr")
    for name, n, s, cpu in rows:
        print(f"{name:<36} {n:>5} {s['auroc']:>6.3f} {s['auroc'] / base_auroc:>6.2f} {s['threshold']:>11.4f} {s['f1']:>6.3f} "
              f"{s['failures']:>8} {cpu * 1000:>11.1f}  {s['caught']}")


if __name__ == "__main__":
    main()
