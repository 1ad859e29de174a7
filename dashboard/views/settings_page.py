"""Settings of the key's project: retention, API keys (a new key is shown
once), price overrides and self-hosted models, and new projects."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dashboard import fmt, ui
from dashboard.api import ApiError, Call

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _act(method: str, path: str, body: dict | None = None) -> dict | None:
    try:
        return ui.client().request(method, path, json=body)
    except ApiError as exc:
        ui.show_error(exc)
        return None


def _show_secret(label: str, key: str) -> None:
    st.success(f"{label}. Copy it now: it is shown only once.")
    st.code(key, language=None)


def render() -> None:
    st.title("Settings")
    project = ui.fresh(Call("/project"))
    keys, prices = ui.fresh(Call("/keys")), ui.fresh(Call("/prices"))
    st.caption(f"Project **{project['id']}** ({project.get('name') or project['id']}), created {project.get('created_at', '')[:10]}.")

    st.subheader("Project")
    with st.form("project"):
        name = st.text_input("Name", value=project.get("name") or "")
        days = st.number_input("Retention (days)", min_value=1, max_value=36500, value=int(project["retention_days"]),
                               help="Applies to spans received from now on.")  # fmt: skip
        if st.form_submit_button("Save") and _act("PATCH", "/project", {"name": name or None, "retention_days": int(days)}):
            st.success("Saved.")

    st.subheader("API keys")
    if st.session_state.get("_created_key"):
        _show_secret("New API key created", st.session_state.pop("_created_key"))
    rows = [{"Id": k["id"], "Name": k["name"], "Prefix": f"{k['prefix']}…", "Created": (k.get("created_at") or "")[:19],
             "State": "revoked" if k.get("revoked_at") else "active"} for k in keys["items"]]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    a, b = st.columns(2)
    with a.form("new_key", clear_on_submit=True):
        key_name = st.text_input("New key name", placeholder="ci, staging, laptop")
        if st.form_submit_button("Create key"):
            if not key_name.strip():
                st.error("Give the key a name, e.g. staging.")
            elif r := _act("POST", "/keys", {"name": key_name.strip()}):
                st.session_state["_created_key"] = r["api_key"]
                st.rerun()
    active = [k for k in keys["items"] if not k.get("revoked_at")]
    with b.form("revoke_key"):
        victim = st.selectbox("Key to revoke", [k["id"] for k in active],
                              format_func=lambda i: next(f"{k['name']} ({k['prefix']}…)" for k in active if k["id"] == i))  # fmt: skip
        st.caption("The dashboard's own key is one of these: revoking it locks the dashboard out.")
        if st.form_submit_button("Revoke") and victim is not None and _act("DELETE", f"/keys/{victim}"):
            st.rerun()

    st.subheader("Prices and self-hosted models")
    st.caption("Overrides win over the bundled price database. Self-hosted: cost = GPU $/hour ÷ (tokens/s × 3600) per token.")
    if prices["items"]:
        st.dataframe(pd.DataFrame([{
            "Id": p["id"], "Model pattern": p["model_pattern"], "Provider": p.get("provider") or "any",
            "Input $/Mtok": p.get("input_per_mtok") or "", "Output $/Mtok": p.get("output_per_mtok") or "",
            "Cache read $/Mtok": p.get("cache_read_per_mtok") or "", "GPU $/h": p.get("gpu_hour_usd") or "",
            "Tokens/s": p.get("tokens_per_second") or "", "From": (p.get("valid_from") or "")[:10],
        } for p in prices["items"]]), hide_index=True, width="stretch")  # fmt: skip
    else:
        st.caption("No overrides yet.")
    a, b = st.columns(2)
    with a.form("new_price", clear_on_submit=True):
        st.markdown("**Add a price**")
        pattern = st.text_input("Model (regular expression, matched in full)", placeholder="acme-coder-7b")
        provider = st.text_input("Provider (optional)")
        c = st.columns(3)
        fields = {
            "input_per_mtok": c[0].text_input("Input $/Mtok"),
            "output_per_mtok": c[1].text_input("Output $/Mtok"),
            "cache_read_per_mtok": c[2].text_input("Cache read $/Mtok"),
        }
        c = st.columns(2)
        fields["gpu_hour_usd"] = c[0].text_input("Self-hosted: GPU $/hour")
        fields["tokens_per_second"] = c[1].text_input("Self-hosted: tokens/s")
        if st.form_submit_button("Add price"):
            body = {"model_pattern": pattern.strip(), "provider": provider.strip() or None}
            bad = [k for k, v in fields.items() if v.strip() and (fmt.dec(v) is None or fmt.dec(v) < 0)]
            if not body["model_pattern"]:
                st.error("Name the model, e.g. acme-coder-7b or gpt-4o(-mini)?")
            elif bad:
                st.error(f"Not a number ≥ 0: {', '.join(bad)} (write e.g. 0.50)")
            else:
                body.update({k: v.strip() for k, v in fields.items() if v.strip()})
                if r := _act("POST", "/prices", body):
                    st.success(f"Price {r['id']} added. Reprice past ranges on the Costs page.")
    with b.form("delete_price"):
        st.markdown("**Remove a price**")
        pid = st.selectbox("Price", [p["id"] for p in prices["items"]],
                           format_func=lambda i: next(f"{p['id']}: {p['model_pattern']}" for p in prices["items"] if p["id"] == i))  # fmt: skip
        if st.form_submit_button("Remove") and pid is not None and _act("DELETE", f"/prices/{pid}"):
            st.rerun()

    st.subheader("New project")
    if st.session_state.get("_created_project"):
        pid, key = st.session_state.pop("_created_project")
        _show_secret(f"Project {pid} created; its first key", key)
    with st.form("new_project", clear_on_submit=True):
        c = st.columns(3)
        slug = c[0].text_input("Id", placeholder="checkout-team")
        pname = c[1].text_input("Name (optional)")
        keep = c[2].number_input("Retention (days)", min_value=1, max_value=36500, value=30)
        if st.form_submit_button("Create project"):
            if not _SLUG.match(slug):
                st.error("An id is lowercase letters, digits, - and _, starting with a letter or digit, e.g. checkout-team.")
            elif r := _act("POST", "/projects", {"id": slug, "name": pname or None, "retention_days": int(keep)}):
                st.session_state["_created_project"] = (slug, r["api_key"])
                st.rerun()
    st.caption(f"The dashboard reads {ui.CFG.api_url}; its data stays with the key's project.")
