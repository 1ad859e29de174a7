"""Pieces every page uses: the API client, cached reads, the sidebar
filters (mirrored in the URL), error messages and the empty state."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import config, filters
from dashboard.api import ApiClient, ApiError, Call, Params, params

CFG = config.load()
# Page-specific URL parameters that the filter sync leaves alone.
PAGE_KEYS = ("trace", "span", "user", "session", "by", "tab", "run")


def client() -> ApiClient:
    """Without a key at start (llmobs not up yet, so no key file), look again
    on every call instead of failing until a restart."""
    cfg = CFG if CFG.api_key else config.load()
    return ApiClient(cfg.api_url, cfg.api_key, cfg.timeout_s)


@st.cache_data(ttl=max(CFG.cache_s, 1), show_spinner=False)
def _cached(calls: tuple[Call, ...]) -> list[Any]:
    return client().fetch_all(list(calls))


def fetch(*calls: Call) -> list[Any]:
    """Read through the cache; on failure show the reason and stop the page."""
    try:
        if CFG.cache_s <= 0:  # caching off (bench/dashboard.py measures every load)
            return client().fetch_all(list(calls))
        return _cached(tuple(calls))
    except ApiError as exc:
        show_error(exc)
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


def optional(call: Call) -> Any | None:
    """Uncached read of something that may not exist yet (a replay report
    before the run ends): None on 404; any other failure stops the page."""
    try:
        return client().get(call.path, call.params)
    except ApiError as exc:
        if exc.status == 404:
            return None
        show_error(exc)
        st.stop()
        raise


def act(method: str, path: str, body: Any = None) -> Any | None:
    """A change the user asked for.  On refusal the API's own message is shown
    (it says what to fix) and None is returned, so the page stays as it was."""
    try:
        out = client().request(method, path, json=body)
    except ApiError as exc:
        show_error(exc)
        return None
    st.cache_data.clear()  # later reads must see the change
    return out if out is not None else {}


def done(message: str) -> None:
    """After a change: rerun so every table shows it, and say what happened
    at the top of the page (`show_done`)."""
    st.session_state["_done"] = message
    st.rerun()


def show_done() -> None:
    if msg := st.session_state.pop("_done", None):
        st.success(msg)


def fresh(call: Call) -> Any:
    """Uncached read (after a change the user made)."""
    try:
        return client().get(call.path, call.params)
    except ApiError as exc:
        show_error(exc)
        st.stop()
        raise


def show_error(exc: ApiError) -> None:
    titles = {
        "down": "The llmobs API is unreachable",
        "timeout": "The llmobs API is too slow to answer",
        "auth": "The API key was refused",
        "rejected": "The API rejected this request",
        "server": "The llmobs API returned an error",
    }
    st.error(f"**{titles.get(exc.kind, 'API error')}.** {exc.message}")


@st.cache_data(ttl=60, show_spinner=False)
def _options(window: Params) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    calls = [Call("/usage/top", window + params(group_by=g, order_by="requests", limit=200))
             for g in ("service", "model", "provider")]  # fmt: skip
    try:
        results = client().fetch_all(calls)
    except ApiError:
        return {"service": [], "model": [], "provider": []}
    for g, res in zip(("service", "model", "provider"), results):
        out[g] = sorted(i["group"] for i in res["items"] if i["group"])
    return out


def filters_sidebar() -> filters.Filters:
    """Sidebar widgets, first filled from the URL; the URL then follows them."""
    qp = st.query_params
    keys = ("range", "start", "end", "status", *filters.TEXT_FIELDS)
    url_errors: tuple[str, ...] = ()
    if not st.session_state.get("_filters_loaded"):
        from_url = filters.validate({k: qp.get(k, "") for k in keys})
        url_errors = from_url.errors
        for k in keys:
            st.session_state[f"f_{k}"] = getattr(from_url, k)
        st.session_state["_filters_loaded"] = True
    sb = st.sidebar
    sb.markdown("### Filters")
    sb.selectbox("Time range", list(filters.RANGES), format_func=lambda k: filters.RANGES[k][0], key="f_range")
    if st.session_state["f_range"] == "custom":
        sb.text_input("Start (UTC)", key="f_start", placeholder="2026-11-24T09:00")
        sb.text_input("End (UTC)", key="f_end", placeholder="2026-11-25T09:00")
    probe = filters.validate({k: st.session_state.get(f"f_{k}", "") for k in keys})
    opts = _options(params(start=probe.window()[0], end=probe.window()[1]))
    for k, label in (("service", "Service"), ("model", "Model"), ("provider", "Provider")):
        choices = [""] + opts.get(k, [])
        if st.session_state.get(f"f_{k}") and st.session_state[f"f_{k}"] not in choices:
            choices.append(st.session_state[f"f_{k}"])
        sb.selectbox(label, choices, key=f"f_{k}", format_func=lambda v: v or "all")
    sb.selectbox("Status", list(filters.STATUSES), key="f_status", format_func=lambda v: filters.STATUSES[v])
    sb.text_input("User", key="f_user_id", placeholder="user id")
    sb.text_input("Session", key="f_session_id", placeholder="session id")
    sb.text_input("Attribute", key="f_attr", placeholder="key=value, e.g. app.feature=search")
    sb.text_input("Text in messages", key="f_q", placeholder="search prompts and completions")
    f = filters.validate({k: st.session_state.get(f"f_{k}", "") for k in keys})
    for msg in (*url_errors, *f.errors):
        sb.error(msg)
        st.warning(f"Filter ignored: {msg}")
    sync_url(filters.to_query(f))
    return f


def sync_url(wanted: dict[str, str]) -> None:
    qp = st.query_params
    for k in list(qp.keys()):
        if k not in PAGE_KEYS and k not in wanted:
            del qp[k]
    for k, v in wanted.items():
        if qp.get(k) != v:
            qp[k] = v


def empty_state(f: filters.Filters) -> None:
    st.info(
        f"No LLM calls in {f.label()} with these filters. Widen the time range or clear filters, "
        "or send data as below."
    )
    how_to_send()


def how_to_send() -> None:
    with st.expander("How to send data to llmobs", expanded=True):
        st.markdown(
            "Any OpenTelemetry SDK works unmodified. Point its OTLP exporter at llmobs "
            "(the key is the one `llmobs up` printed, or `llmobs keys create`):"
        )
        env = (
            f"export OTEL_EXPORTER_OTLP_ENDPOINT={CFG.otlp_http}\n"
            "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
            'export OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <your API key>"\n'
            "export OTEL_SERVICE_NAME=my-app"
        )
        st.markdown("**Python** (OpenAI client, GenAI semantic conventions)")
        st.code(
            "pip install opentelemetry-distro opentelemetry-exporter-otlp opentelemetry-instrumentation-openai-v2\n"
            + env
            + "\nexport OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true\n"
            "opentelemetry-instrument python app.py",
            language="bash", wrap_lines=True,
        )  # fmt: skip
        st.markdown("**Node.js** (Vercel AI SDK: `experimental_telemetry: { isEnabled: true }`)")
        st.code(
            "npm install @opentelemetry/sdk-node @opentelemetry/auto-instrumentations-node "
            "@opentelemetry/exporter-trace-otlp-proto\n"
            + env
            + "\nnode --require @opentelemetry/auto-instrumentations-node/register app.js",
            language="bash", wrap_lines=True,
        )  # fmt: skip
        st.markdown(
            f"gRPC works too (`{CFG.otlp_grpc}`, protocol `grpc`). To look around first, "
            "send sample traffic: `llmobs demo` (or start with `llmobs up --demo`)."
        )
