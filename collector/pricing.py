"""Price one canonical GenAI record, offline and exactly (Decimal, never float).

Order of precedence for a span's model (response model, else request model):

1. the project's price overrides (`storage.metadata.types.PriceOverride`): the
   regex must match the whole model name, the override's provider (if set) must
   equal the span's provider, and its `valid_from` must not be after the span's
   start; the newest `valid_from` wins (ties: the higher id).  Token overrides
   give USD per million tokens; self-hosted overrides give a GPU-hour price and
   a throughput, so every token costs gpu_hour_usd / 3600 / tokens_per_second.
2. the bundled `genai-prices` database, looked up at the span's start time
   (prices that changed by date, off-peak windows, long-context tiers).

genai-prices conventions (verified against genai-prices 0.2.3, see
tests/pricing/test_genai_prices_conventions.py):

* `Usage.input_tokens` INCLUDES cache reads and cache writes: the library bills
  the leaf `input_tokens - cache_read_tokens - cache_write_tokens` at
  `input_mtok`, each cache bucket at its own price, and a cache bucket the model
  has no price for stays inside the input leaf (billed at `input_mtok`).
* `Usage.output_tokens` INCLUDES reasoning: reasoning is billed at `output_mtok`
  unless the model prices `output_reasoning_mtok` (then the leaf
  `output_tokens - output_reasoning_tokens` is billed at `output_mtok`).
* Tiers are "cliff" tiers keyed on the inclusive `input_tokens`: above a tier's
  start EVERY priced bucket of the request uses the tier price.
* `requests_kcount` (a per-request fee, e.g. Perplexity sonar) counts 1 per
  call; it is reported here inside the `input` component.
* Network: only `genai_prices.UpdatePrices` downloads anything.  This module
  never starts it and reads the bundled snapshot directly, so a process-wide
  custom snapshot set elsewhere cannot change our prices behind our back.

`genai_prices.calc_price` costs ~50 µs a call and returns only input/output
totals, so the per-bucket arithmetic is done here from the matched
`ModelPrice`, with the (provider, model) match and each price row's
resolved plan cached.  The tests check that our totals equal
`ModelInfo.calc_price(...).total_price` for every model in the database.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from importlib.util import find_spec
from typing import Literal

from genai_prices.data_snapshot import DataSnapshot, find_provider_by_id
from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

from collector.normalize.canonical import GenAIFields, SpanType, TokenSplit
from storage.metadata.types import PriceOverride

__all__ = ["CostBreakdown", "Pricer", "pricing_version"]

log = logging.getLogger(__name__)

Source = Literal["genai-prices", "override", "self-hosted", ""]
Status = Literal["priced", "unknown_model", "no_usage", "not_llm"]

# Costs are stored as Decimal(18, 12).
_Q = Decimal("1e-12")
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_HOUR = Decimal(3600)
_PRICED_TYPES = (SpanType.LLM, SpanType.EMBEDDING)
_MAX_CACHE = 50_000  # distinct (provider, model) keys kept before the cache is reset


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cost of one span in USD, split into non-overlapping components.

    The five components always sum exactly to `total` (each is quantized to
    12 decimal places first).  All of them are None unless status == "priced";
    an unknown model is None, never 0.
    """

    input: Decimal | None = None  # uncached input tokens (+ any per-request fee)
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    output: Decimal | None = None  # visible output tokens (text, audio, ...)
    reasoning: Decimal | None = None  # reasoning/thinking tokens
    total: Decimal | None = None
    source: Source = ""
    version: str = ""  # pricing_version() or "override:<id>"
    status: Status = "not_llm"
    matched_model: str | None = None
    provider: str | None = None


_NOT_LLM = CostBreakdown(status="not_llm")
_NO_USAGE = CostBreakdown(status="no_usage")


# --------------------------------------------------------------------------- version


def _package_version() -> str:
    try:
        return _dist_version("genai-prices")
    except PackageNotFoundError:  # pragma: no cover - vendored copy
        return "unknown"


_version_cache: str | None = None


def pricing_version() -> str:
    """Identify the bundled price data: package version + a hash of its data file.

    genai-prices ships no snapshot date, so the first 12 hex digits of the
    SHA-256 of `genai_prices/data.py` stand in for it: any change to the data,
    even without a version bump, gives a new string (a repricing job keys on it).
    """
    global _version_cache
    if _version_cache is None:
        digest = "nodata"
        spec = find_spec("genai_prices.data")
        if spec is not None and spec.origin:
            try:
                with open(spec.origin, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()[:12]
            except OSError:  # pragma: no cover
                pass
        _version_cache = f"genai-prices/{_package_version()}+data.{digest}"
    return _version_cache


_bundled: DataSnapshot | None = None


def _bundled_snapshot() -> DataSnapshot:
    """The database shipped inside the package (never the auto-updated one)."""
    global _bundled
    if _bundled is None:
        from genai_prices.data import providers

        _bundled = DataSnapshot(providers=providers, from_auto_update=False)
    return _bundled


# --------------------------------------------------------------------------- providers

# Canonical (OTel gen_ai.provider.name and common SDK) ids -> genai-prices ids.
_PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "amazon_bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure_openai": "azure",
    "azure": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "google": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "google_genai": "google",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "perplexity": "perplexity",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "together_ai": "together",
    "together": "together",
    "fireworks_ai": "fireworks",
    "fireworks": "fireworks",
    "openrouter": "openrouter",
    "moonshot": "moonshotai",
    "moonshotai": "moonshotai",
}

# Inference that runs on the user's own hardware: never priced at some API's
# list price by name similarity (a self-hosted override prices it instead).
_LOCAL_PROVIDERS = frozenset(
    {"ollama", "vllm", "lmstudio", "lm_studio", "llama_cpp", "llamacpp", "llama.cpp",
     "localai", "tgi", "sglang", "local", "self-hosted", "self_hosted"}
)


# --------------------------------------------------------------------------- plans

PriceValue = Decimal | TieredPrices


@dataclass(frozen=True, slots=True)
class _Plan:
    """A ModelPrice resolved to our five buckets (fallbacks already applied)."""

    input: PriceValue | None
    cache_read: PriceValue | None
    cache_write: PriceValue | None
    output: PriceValue | None
    reasoning: PriceValue | None
    request_fee: Decimal  # USD per call (requests_kcount / 1000)
    tiered: bool
    token_priced: bool  # False: the model is priced only in units we cannot see


_TOKEN_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok", "output_reasoning_mtok")


def _make_plan(mp: ModelPrice) -> _Plan:
    p_in = getattr(mp, "input_mtok", None)
    p_out = getattr(mp, "output_mtok", None)
    p_cr = getattr(mp, "cache_read_mtok", None)
    p_cw = getattr(mp, "cache_write_mtok", None)
    p_rs = getattr(mp, "output_reasoning_mtok", None)
    req = getattr(mp, "requests_kcount", None)
    values = {k: v for k, v in mp.__dict__.items() if not k.startswith("_") and v is not None}
    # An empty price row is a free model (prices at 0).  A row with prices but
    # none per token or per request (per character, audio hour, page...)
    # cannot be priced from token counts.
    token_priced = not values or req is not None or any(values.get(k) is not None for k in _TOKEN_KEYS)
    return _Plan(
        input=p_in,
        cache_read=p_cr if p_cr is not None else p_in,
        cache_write=p_cw if p_cw is not None else p_in,
        output=p_out,
        reasoning=p_rs if p_rs is not None else p_out,
        request_fee=_CTX.divide(req, Decimal(1000)) if isinstance(req, Decimal) else _ZERO,
        tiered=any(isinstance(v, TieredPrices) for v in (p_in, p_cr, p_cw, p_out, p_rs)),
        token_priced=token_priced,
    )


def _rate(price: PriceValue | None, total_input: int) -> Decimal | None:
    if price is None or isinstance(price, Decimal):
        return price
    # genai-prices' cliff tiers: the highest tier whose start the request's
    # (inclusive) input exceeds applies to every token.
    for tier in reversed(price.tiers):
        if total_input > tier.start:
            return tier.price
    return price.base


def _per_mtok(rate: Decimal | None, tokens: int) -> Decimal:
    if rate is None or tokens == 0:
        return _ZERO
    return _CTX.multiply(rate, Decimal(tokens)).scaleb(-6, _CTX)


def _q(value: Decimal) -> Decimal:
    return value.quantize(_Q, context=_CTX)


def _breakdown(
    parts: tuple[Decimal, Decimal, Decimal, Decimal, Decimal],
    *,
    source: Source,
    version: str,
    matched_model: str | None,
    provider: str | None,
) -> CostBreakdown:
    i, cr, cw, o, r = (_q(p) for p in parts)
    total = _CTX.add(_CTX.add(_CTX.add(_CTX.add(i, cr), cw), o), r)
    return CostBreakdown(i, cr, cw, o, r, total, source, version, "priced", matched_model, provider)


@dataclass(slots=True)
class _Match:
    provider: Provider
    model: ModelInfo
    static_plan: _Plan | None  # set when the model has one undated price row


@dataclass(frozen=True, slots=True)
class _CompiledOverride:
    regex: re.Pattern[str] | None
    provider: str | None  # lower-cased
    valid_from_ns: int | None


def _to_ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # naive datetimes in the metadata store are UTC
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _clean_split(split: TokenSplit) -> tuple[int, int, int, int, int]:
    return (
        max(split.input_uncached, 0),
        max(split.cache_read, 0),
        max(split.cache_write, 0),
        max(split.output_text, 0),
        max(split.reasoning, 0),
    )


# --------------------------------------------------------------------------- pricer


class Pricer:
    """Prices canonical GenAI records; one instance per process is enough.

    `overrides(project_id)` returns that project's PriceOverride rows (the
    caller caches them).  `snapshot` swaps the genai-prices database (tests,
    or an explicitly shipped newer snapshot); it defaults to the bundled one.
    """

    def __init__(
        self,
        overrides: Callable[[str], Sequence[PriceOverride]] | None = None,
        *,
        snapshot: DataSnapshot | None = None,
    ) -> None:
        self._overrides = overrides
        self._snapshot = snapshot if snapshot is not None else _bundled_snapshot()
        if snapshot is None:
            self.version = pricing_version()
        else:
            stamp = snapshot.timestamp.strftime("%Y%m%dT%H%M%S")
            self.version = f"genai-prices/{_package_version()}+custom.{stamp}"
        self._matches: dict[tuple[str | None, str], _Match | None] = {}
        self._plans: dict[int, tuple[ModelPrice, _Plan]] = {}
        self._compiled: dict[tuple[int, str, str | None, datetime | None], _CompiledOverride] = {}

    # ---------------------------------------------------------------- public

    def price(self, genai: GenAIFields, *, project_id: str, start_ns: int) -> CostBreakdown:
        if genai.span_type not in _PRICED_TYPES or not genai.counts_usage:
            return _NOT_LLM
        usage = genai.usage
        if usage.is_empty():
            return _NO_USAGE
        buckets = _clean_split(usage.split())
        if not any(buckets) and (usage.total_tokens or 0) > 0:
            # Only a total was reported: it cannot be split into priced buckets.
            return _NO_USAGE

        model = genai.response_model or genai.request_model
        provider = genai.provider
        if not model:
            return CostBreakdown(status="unknown_model", version=self.version, provider=provider)

        if self._overrides is not None:
            rows = self._overrides(project_id)
            if rows:
                ov = self._pick_override(rows, model, provider, start_ns)
                if ov is not None:
                    return self._price_override(ov, buckets, model, provider)

        match = self._match(provider, model)
        if match is None:
            return CostBreakdown(status="unknown_model", version=self.version, provider=provider)
        plan = match.static_plan
        if plan is None:
            plan = self._plan_at(match.model, start_ns)
        if not plan.token_priced:
            return CostBreakdown(
                status="unknown_model", version=self.version,
                matched_model=match.model.id, provider=match.provider.id,
            )
        return self._price_plan(plan, buckets, match)

    # ---------------------------------------------------------------- genai-prices

    def _match(self, provider: str | None, model: str) -> _Match | None:
        key = (provider, model)
        try:
            return self._matches[key]
        except KeyError:
            pass
        found = self._lookup(provider, model)
        match: _Match | None = None
        if found is not None:
            prov, info = found
            static = _make_plan(info.prices) if isinstance(info.prices, ModelPrice) else None
            match = _Match(prov, info, static)
        if len(self._matches) >= _MAX_CACHE:
            self._matches.clear()
        self._matches[key] = match
        return match

    def _lookup(self, provider: str | None, model: str) -> tuple[Provider, ModelInfo] | None:
        snap = self._snapshot
        attempts: list[tuple[str | None, str]] = []
        plower = provider.strip().lower() if provider else None
        if plower in _LOCAL_PROVIDERS:
            return None
        gp_id: str | None = None
        if plower:
            gp_id = _PROVIDER_ALIASES.get(plower)
            if gp_id is None:
                known = find_provider_by_id(snap.providers, plower)
                gp_id = known.id if known is not None else None
            if gp_id is None and plower == "litellm":
                gp_id = "litellm"  # genai-prices splits "<provider>/<model>" itself
        if gp_id is not None:
            attempts.append((gp_id, model))
        # Provider unknown to genai-prices, or the model is not in its list
        # (proxies often report "openai" for any OpenAI-compatible upstream):
        # match on the model name alone, via the providers' model clauses.
        attempts.append((None, model))
        if "/" in model:
            # "anthropic/claude-..." (LiteLLM, OpenRouter-style refs)
            prefix, rest = model.split("/", 1)
            prefixed = _PROVIDER_ALIASES.get(prefix.lower())
            if prefixed is None:
                known = find_provider_by_id(snap.providers, prefix)
                prefixed = known.id if known is not None else None
            if prefixed is not None and rest:
                attempts.append((prefixed, rest))
            # "models/gemini-2.5-flash", ".../inference-profile/us.anthropic...":
            # the last path segment is the model name.
            last = model.rsplit("/", 1)[1]
            if last:
                if gp_id is not None:
                    attempts.append((gp_id, last))
                attempts.append((None, last))
        for pid, ref in attempts:
            try:
                return snap.find_provider_model(ref, None, pid, None)
            except LookupError:
                continue
        return None

    def _plan_at(self, info: ModelInfo, start_ns: int) -> _Plan:
        when = _EPOCH + timedelta(microseconds=start_ns // 1000) if start_ns > 0 else datetime.now(tz=UTC)
        mp = info.get_prices(when)
        cached = self._plans.get(id(mp))
        if cached is not None and cached[0] is mp:
            return cached[1]
        plan = _make_plan(mp)
        self._plans[id(mp)] = (mp, plan)  # keeps mp alive, so its id is not reused
        return plan

    def _price_plan(self, plan: _Plan, buckets: tuple[int, int, int, int, int], match: _Match) -> CostBreakdown:
        uncached, cache_read, cache_write, out_text, reasoning = buckets
        if plan.tiered:
            total_input = uncached + cache_read + cache_write
            r_in = _rate(plan.input, total_input)
            r_cr = _rate(plan.cache_read, total_input)
            r_cw = _rate(plan.cache_write, total_input)
            r_out = _rate(plan.output, total_input)
            r_rs = _rate(plan.reasoning, total_input)
        else:
            # untiered plans hold plain Decimal | None rates
            r_in, r_cr, r_cw, r_out, r_rs = (  # type: ignore[assignment]
                plan.input, plan.cache_read, plan.cache_write, plan.output, plan.reasoning
            )
        c_in = _per_mtok(r_in, uncached)
        if plan.request_fee:
            c_in = _CTX.add(c_in, plan.request_fee)
        return _breakdown(
            (c_in, _per_mtok(r_cr, cache_read), _per_mtok(r_cw, cache_write),
             _per_mtok(r_out, out_text), _per_mtok(r_rs, reasoning)),
            source="genai-prices",
            version=self.version,
            matched_model=match.model.id,
            provider=match.provider.id,
        )

    # ---------------------------------------------------------------- overrides

    def _compile(self, ov: PriceOverride) -> _CompiledOverride:
        key = (ov.id, ov.model_pattern, ov.provider, ov.valid_from)
        compiled = self._compiled.get(key)
        if compiled is None:
            try:
                regex: re.Pattern[str] | None = re.compile(ov.model_pattern)
            except re.error:
                log.warning("price override %s: invalid model_pattern %r ignored", ov.id, ov.model_pattern)
                regex = None
            usable = _is_self_hosted(ov) or any(
                p is not None
                for p in (ov.input_per_mtok, ov.output_per_mtok, ov.cache_read_per_mtok,
                          ov.cache_write_per_mtok, ov.reasoning_per_mtok)
            )
            compiled = _CompiledOverride(
                regex=regex if usable else None,
                provider=ov.provider.strip().lower() if ov.provider else None,
                valid_from_ns=_to_ns(ov.valid_from) if ov.valid_from is not None else None,
            )
            if len(self._compiled) >= _MAX_CACHE:
                self._compiled.clear()
            self._compiled[key] = compiled
        return compiled

    def _pick_override(
        self, rows: Sequence[PriceOverride], model: str, provider: str | None, start_ns: int
    ) -> PriceOverride | None:
        best: PriceOverride | None = None
        best_key: tuple[int, int] | None = None
        plower = provider.strip().lower() if provider else None
        for ov in rows:
            c = self._compile(ov)
            if c.regex is None:
                continue
            if c.provider is not None and c.provider != plower:
                continue
            vf = c.valid_from_ns
            if vf is not None and vf > start_ns:
                continue
            if c.regex.fullmatch(model) is None:
                continue
            key = (vf if vf is not None else -(1 << 62), ov.id)
            if best_key is None or key > best_key:
                best, best_key = ov, key
        return best

    def _price_override(
        self, ov: PriceOverride, buckets: tuple[int, int, int, int, int], model: str, provider: str | None
    ) -> CostBreakdown:
        version = f"override:{ov.id}"
        if _is_self_hosted(ov):
            per_token_den = _CTX.multiply(_SECONDS_PER_HOUR, ov.tokens_per_second)  # type: ignore[arg-type]
            gpu = ov.gpu_hour_usd
            parts = tuple(
                _CTX.divide(_CTX.multiply(gpu, Decimal(n)), per_token_den) if n else _ZERO  # type: ignore[arg-type]
                for n in buckets
            )
            return _breakdown(parts, source="self-hosted", version=version,  # type: ignore[arg-type]
                              matched_model=model, provider=provider)
        zero = _ZERO
        p_in = ov.input_per_mtok if ov.input_per_mtok is not None else zero
        p_out = ov.output_per_mtok if ov.output_per_mtok is not None else zero
        p_cr = ov.cache_read_per_mtok if ov.cache_read_per_mtok is not None else p_in
        p_cw = ov.cache_write_per_mtok if ov.cache_write_per_mtok is not None else p_in
        p_rs = ov.reasoning_per_mtok if ov.reasoning_per_mtok is not None else p_out
        uncached, cache_read, cache_write, out_text, reasoning = buckets
        return _breakdown(
            (_per_mtok(p_in, uncached), _per_mtok(p_cr, cache_read), _per_mtok(p_cw, cache_write),
             _per_mtok(p_out, out_text), _per_mtok(p_rs, reasoning)),
            source="override", version=version, matched_model=model, provider=provider,
        )


def _is_self_hosted(ov: PriceOverride) -> bool:
    return (
        ov.gpu_hour_usd is not None
        and ov.tokens_per_second is not None
        and ov.tokens_per_second > 0
        and ov.gpu_hour_usd >= 0
    )
