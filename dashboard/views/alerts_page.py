"""Alerts: rules on any metric the API serves, budgets with their burn-down,
the hooks notifications go to, the firing/resolved history and the delivery
log.  Every write goes through the alerts API, which validates it; a refusal
is shown in the API's own words and changes nothing.

Rules and budgets can be created, switched on and off and deleted; a rule
is edited in place (PATCH: it keeps its firing state and history), or saved
as a new rule from the same form.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import fmt, ui
from dashboard.api import Call, params

COMPARISONS = [">", ">=", "<", "<="]


def calls() -> list[Call]:
    """The API reads this page makes (bench/dashboard.py times the same list)."""
    return [
        Call("/alerts/rules"),
        Call("/budgets"),
        Call("/hooks"),
        Call("/alerts/events", params(limit=100)),
        Call("/deliveries", params(limit=100)),
        Call("/alerts/metrics"),
    ]


def _time(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


def render() -> None:
    st.title("Alerts")
    ui.show_done()
    rules, budgets, hooks, events, deliveries, metrics = ui.fetch(*calls())
    hook_names = {h["id"]: h["name"] for h in hooks["items"]}
    firing = [e for e in _latest_states(events["items"]).values() if e["status"] == "firing"]
    row = st.columns(4)
    row[0].metric("Rules", fmt.count(len(rules["items"])), border=True)
    row[1].metric("Budgets", fmt.count(len(budgets["items"])), border=True)
    row[2].metric("Firing now", fmt.count(len(firing)), border=True)
    row[3].metric("Failed deliveries", fmt.count(sum(1 for d in deliveries["items"] if d["status"] == "failed")),
                  border=True)  # fmt: skip
    tabs = st.tabs(["Rules", "Budgets", "Hooks", "History", "Delivery log"])
    with tabs[0]:
        rules_tab(rules["items"], metrics["items"], hook_names)
    with tabs[1]:
        budgets_tab(budgets["items"], hook_names)
    with tabs[2]:
        hooks_tab(hooks["items"])
    with tabs[3]:
        history_tab(events["items"], rules["items"], budgets["items"])
    with tabs[4]:
        deliveries_tab(deliveries["items"], hook_names)


def _latest_states(events: list[dict[str, Any]]) -> dict[tuple[Any, Any, str], dict[str, Any]]:
    """The newest transition per rule/budget group (events come newest first)."""
    out: dict[tuple[Any, Any, str], dict[str, Any]] = {}
    for e in events:
        out.setdefault((e["rule_id"], e["budget_id"], e["group_key"]), e)
    return out


def _hooks_picker(label: str, hook_names: dict[int, str], key: str, default: list[int] | None = None) -> list[int]:
    return st.multiselect(label, list(hook_names), default=default or [], format_func=lambda i: hook_names[i], key=key)


def _json_field(raw: str, what: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "{}")
    except ValueError as exc:
        st.error(f"{what} is not JSON ({exc}). Example: {{\"evaluator\": \"pii\"}}")
        return None
    if not isinstance(value, dict):
        st.error(f"{what} must be a JSON object, e.g. {{\"evaluator\": \"pii\"}}")
        return None
    return value


def rules_tab(rules: list[dict[str, Any]], metrics: list[dict[str, Any]], hook_names: dict[int, str]) -> None:
    if rules:
        st.dataframe(pd.DataFrame([{
            "Id": r["id"], "Name": r["name"], "Enabled": r["enabled"], "Condition":
                f"{r['metric']} {r['comparison']} {r['threshold']:g}", "Window": f"{r['window_seconds']} s",
            "Group by": r["group_by"] or "", "Params": json.dumps(r["params"]) if r["params"] else "",
            "Cooldown": f"{r['cooldown_seconds']} s", "Resolve notice": r["notify_resolve"],
            "Hooks": ", ".join(hook_names.get(h, str(h)) for h in r["hook_ids"]), "Created (UTC)": _time(r["created_at"]),
        } for r in rules]), hide_index=True, width="stretch")  # fmt: skip
    else:
        st.caption("No alert rules yet.")
    by_metric = {m["metric"]: m for m in metrics}
    template = st.session_state.get("_rule_template") or {}
    a, b = st.columns(2)
    with a.form("new_rule"):
        st.markdown(f"**Edit rule {template['name']}**" if template else "**New rule**")
        name = st.text_input("Name", value=template.get("name", ""), key="nr_name")
        names = sorted(by_metric)
        metric = st.selectbox("Metric", names, index=names.index(template["metric"]) if template.get("metric") in names else 0,
                              key="nr_metric",
                              help="Span metrics (cost, latency_p95, error_rate, ...) or evaluation metrics (eval_score, pii_rate, drift_p_value)")  # fmt: skip
        c1, c2, c3 = st.columns(3)
        comparison = c1.selectbox("Comparison", COMPARISONS, index=COMPARISONS.index(template.get("comparison", ">")),
                                  key="nr_cmp")  # fmt: skip
        threshold = c2.text_input("Threshold", value=str(template.get("threshold", "")), key="nr_threshold", placeholder="0.05")
        window = c3.text_input("Window (s)", value=str(template.get("window_seconds", 300)), key="nr_window")
        c4, c5 = st.columns(2)
        group_by = c4.text_input("Group by (optional)", value=template.get("group_by") or "", key="nr_group",
                                 help=", ".join((by_metric.get(metric) or {}).get("group_by", [])))  # fmt: skip
        cooldown = c5.text_input("Cooldown (s)", value=str(template.get("cooldown_seconds", 0)), key="nr_cooldown")
        raw = st.text_input("Params (JSON)", value=json.dumps(template.get("params") or {}), key="nr_params",
                            help='evaluation metrics: {"evaluator": "grounding", "metric": "grounding"}')  # fmt: skip
        resolve = st.checkbox("Notify when resolved", value=template.get("notify_resolve", True), key="nr_resolve")
        hooks = _hooks_picker("Notify", hook_names, "nr_hooks", [h for h in template.get("hook_ids", []) if h in hook_names])
        save = st.form_submit_button("Save changes") if template else False
        create = st.form_submit_button("Create as a new rule" if template else "Create rule")
        if save or create:
            p = _json_field(raw, "Params")
            numbers = _numbers({"threshold": (threshold, float), "window_seconds": (window, int),
                                "cooldown_seconds": (cooldown, int)})  # fmt: skip
            if p is not None and numbers is not None:
                body = {"name": name.strip(), "metric": metric, "comparison": comparison, **numbers,
                        "group_by": group_by.strip() or None, "params": p, "notify_resolve": resolve, "hook_ids": hooks}  # fmt: skip
                if save and ui.act("PATCH", f"/alerts/rules/{template['id']}", body) is not None:
                    st.session_state.pop("_rule_template", None)
                    ui.done(f"Rule {body['name']} saved.")
                elif create and ui.act("POST", "/alerts/rules", body) is not None:
                    st.session_state.pop("_rule_template", None)
                    ui.done(f"Rule {body['name']} created.")
    if not rules:
        return
    with b.form("change_rule"):
        st.markdown("**Change a rule**")
        by_id = {r["id"]: r for r in rules}
        rid = st.selectbox("Rule", list(by_id), key="cr_id",
                           format_func=lambda i: f"{by_id[i]['name']} ({'on' if by_id[i]['enabled'] else 'off'})")  # fmt: skip
        cols = st.columns(3)
        toggle = cols[0].form_submit_button("Switch on/off")
        edit = cols[1].form_submit_button("Edit")
        delete = cols[2].form_submit_button("Delete")
        st.caption("Edit loads this rule into the form on the left: save changes it in place and keeps its firing "
                   "history; deleting a rule also deletes its history.")  # fmt: skip
    if toggle:
        r = by_id[rid]
        if ui.act("POST", f"/alerts/rules/{rid}/{'disable' if r['enabled'] else 'enable'}") is not None:
            ui.done(f"Rule {r['name']} switched {'off' if r['enabled'] else 'on'}.")
    if edit:
        st.session_state["_rule_template"] = by_id[rid]
        for k in ("nr_name", "nr_metric", "nr_cmp", "nr_threshold", "nr_window", "nr_group", "nr_cooldown",
                  "nr_params", "nr_resolve", "nr_hooks"):  # fmt: skip
            st.session_state.pop(k, None)
        st.rerun()
    if delete and ui.act("DELETE", f"/alerts/rules/{rid}") is not None:
        ui.done(f"Rule {by_id[rid]['name']} deleted.")


def _numbers(fields: dict[str, tuple[str, type]]) -> dict[str, Any] | None:
    """Form text to numbers; a value that is not one is named with an example
    (range checks are the API's)."""
    out: dict[str, Any] = {}
    bad = []
    for name, (raw, kind) in fields.items():
        try:
            out[name] = kind(raw.strip())
        except ValueError:
            bad.append(f"{name.replace('_', ' ')} {raw!r} is not a {'whole number' if kind is int else 'number'}, "
                       f"e.g. {'300' if kind is int else '0.05'}")  # fmt: skip
    for msg in bad:
        st.error(msg)
    return None if bad else out


def budgets_tab(budgets: list[dict[str, Any]], hook_names: dict[int, str]) -> None:
    if not budgets:
        st.caption("No budgets yet.")
    for b in budgets:
        bd = b["burn_down"]
        scope = "whole project" if b["scope"] == "project" else f"{b['scope']} = {b['scope_value']}"
        st.markdown(f"**{b['name']}**: {fmt.usd(bd['spent_usd'])} of {fmt.usd(bd['limit_usd'])} this {b['period']} "
                    f"({scope})")  # fmt: skip
        st.progress(min(float(bd["used"]), 1.0), text=f"{fmt.pct(bd['used'])} used · projected {fmt.usd(bd['projected_usd'])} "
                    f"by {_time(bd['period_end'])} UTC · notifies at {', '.join(fmt.pct(t) for t in b['thresholds'])}")  # fmt: skip
        if bd["projected_usd"] > float(bd["limit_usd"]):
            st.warning(f"At this pace {b['name']} ends the {b['period']} at {fmt.usd(bd['projected_usd'])}, over its limit.")
    a, b_ = st.columns(2)
    with a.form("new_budget"):
        st.markdown("**New budget**")
        name = st.text_input("Name", key="nb_name")
        c1, c2 = st.columns(2)
        limit = c1.text_input("Limit (USD)", key="nb_limit", placeholder="100.00")
        period = c2.selectbox("Period", ["month", "day"], key="nb_period")
        c3, c4 = st.columns(2)
        scope = c3.text_input("Scope", value="project", key="nb_scope", help="project, user or attr:<key>")
        scope_value = c4.text_input("Scope value", key="nb_scope_value", help="the user id or attribute value")
        thresholds = st.text_input("Notify at (fractions)", value="0.5, 0.8, 1.0", key="nb_thresholds")
        hooks = _hooks_picker("Notify", hook_names, "nb_hooks")
        if st.form_submit_button("Create budget"):
            try:
                levels = [float(x) for x in thresholds.replace(" ", "").split(",") if x]
            except ValueError:
                st.error(f"Notify at {thresholds!r}: write fractions of the limit separated by commas, e.g. 0.5, 0.8, 1.0")
            else:
                body = {"name": name.strip(), "limit_usd": limit.strip(), "period": period, "scope": scope.strip(),
                        "scope_value": scope_value.strip(), "thresholds": levels, "hook_ids": hooks}  # fmt: skip
                if ui.act("POST", "/budgets", body) is not None:
                    ui.done(f"Budget {body['name']} created.")
    if budgets:
        with b_.form("delete_budget"):
            st.markdown("**Delete a budget**")
            by_id = {x["id"]: x for x in budgets}
            bid = st.selectbox("Budget", list(by_id), format_func=lambda i: by_id[i]["name"], key="db_id")
            if st.form_submit_button("Delete") and ui.act("DELETE", f"/budgets/{bid}") is not None:
                ui.done(f"Budget {by_id[bid]['name']} deleted.")


def hooks_tab(hooks: list[dict[str, Any]]) -> None:
    if st.session_state.get("_hook_secret"):
        name, secret = st.session_state.pop("_hook_secret")
        st.success(f"Hook {name} created. Its signing secret is shown only once: receivers verify "
                   "X-Llmobs-Signature (HMAC-SHA256 over timestamp.body) with it.")  # fmt: skip
        st.code(secret, language=None)
    if hooks:
        st.dataframe(pd.DataFrame([{
            "Id": h["id"], "Name": h["name"], "Kind": h["kind"], "URL": h["url"], "Enabled": h["enabled"],
            "Secret": f"{h['secret_hint']}…", "Created (UTC)": _time(h["created_at"]),
        } for h in hooks]), hide_index=True, width="stretch")  # fmt: skip
    else:
        st.caption("No hooks yet: rules and budgets notify nobody until one exists.")
    a, b = st.columns(2)
    with a.form("new_hook", clear_on_submit=True):
        st.markdown("**New hook**")
        name = st.text_input("Name", key="nh_name")
        url = st.text_input("URL", key="nh_url", placeholder="https://example.com/llmobs-alerts")
        kind = st.selectbox("Format", ["webhook", "slack"], key="nh_kind",
                            format_func=lambda k: {"webhook": "signed JSON webhook", "slack": "Slack incoming webhook"}[k])  # fmt: skip
        if st.form_submit_button("Create hook"):
            r = ui.act("POST", "/hooks", {"name": name.strip(), "url": url.strip(), "kind": kind})
            if r is not None:
                st.session_state["_hook_secret"] = (r["name"], r["secret"])
                st.rerun()
    if not hooks:
        return
    with b.form("change_hook"):
        st.markdown("**Change a hook**")
        by_id = {h["id"]: h for h in hooks}
        hid = st.selectbox("Hook", list(by_id), key="ch_id",
                           format_func=lambda i: f"{by_id[i]['name']} ({'on' if by_id[i]['enabled'] else 'off'})")  # fmt: skip
        cols = st.columns(3)
        toggle = cols[0].form_submit_button("Switch on/off")
        test = cols[1].form_submit_button("Send a test")
        delete = cols[2].form_submit_button("Delete")
    if toggle and ui.act("PATCH", f"/hooks/{hid}", {"enabled": not by_id[hid]["enabled"]}) is not None:
        ui.done(f"Hook {by_id[hid]['name']} switched {'off' if by_id[hid]['enabled'] else 'on'}.")
    if test and ui.act("POST", f"/hooks/{hid}/test") is not None:
        ui.done(f"Test notification queued for {by_id[hid]['name']}: see the delivery log.")
    if delete and ui.act("DELETE", f"/hooks/{hid}") is not None:
        ui.done(f"Hook {by_id[hid]['name']} deleted.")


def history_tab(events: list[dict[str, Any]], rules: list[dict[str, Any]], budgets: list[dict[str, Any]]) -> None:
    if not events:
        st.caption("Nothing has fired yet.")
        return
    rule_names = {r["id"]: r["name"] for r in rules}
    budget_names = {b["id"]: b["name"] for b in budgets}
    st.dataframe(pd.DataFrame([{
        "At (UTC)": _time(e["at"]), "Status": e["status"],
        "Rule / budget": rule_names.get(e["rule_id"], f"rule {e['rule_id']}") if e["rule_id"] is not None
        else budget_names.get(e["budget_id"], f"budget {e['budget_id']}"),
        "Group": e["group_key"] or "(all)", "Value": e["value"], "Threshold": e["threshold"],
    } for e in events]), hide_index=True, width="stretch",
        column_config={"Value": st.column_config.NumberColumn(format="%.6g"),
                       "Threshold": st.column_config.NumberColumn(format="%.6g")})  # fmt: skip
    st.caption("Every transition, newest first: firing when a group crosses its threshold, resolved when it comes "
               "back; budgets record each notification level they reach.")  # fmt: skip


def deliveries_tab(deliveries: list[dict[str, Any]], hook_names: dict[int, str]) -> None:
    if not deliveries:
        st.caption("No notification sent yet.")
        return
    st.dataframe(pd.DataFrame([{
        "Created (UTC)": _time(d["created_at"]), "Hook": hook_names.get(d["hook_id"], d["hook_id"]),
        "Status": d["status"], "Attempts": d["attempts"], "Last answer": d.get("last_status_code") or "",
        "Last error": d.get("last_error") or "", "Delivered (UTC)": _time(d.get("delivered_at")),
        "What": d["payload"].get("title") or d["payload"].get("status", ""), "Dedupe key": d["dedupe_key"],
    } for d in deliveries]), hide_index=True, width="stretch")  # fmt: skip
