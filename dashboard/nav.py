"""The pages, in menu order; views link to each other through these."""

from __future__ import annotations

import streamlit as st


def pages() -> dict[str, st.Page]:
    from dashboard.views import alerts_page, costs, overview, quality, replay_page, settings_page, traces, users

    return {
        "overview": st.Page(overview.render, title="Overview", icon=":material/monitoring:", default=True),
        "costs": st.Page(costs.render, title="Costs", icon=":material/payments:", url_path="costs"),
        "traces": st.Page(traces.render, title="Traces", icon=":material/account_tree:", url_path="traces"),
        "users": st.Page(users.render, title="Users & sessions", icon=":material/group:", url_path="users"),
        "quality": st.Page(quality.render, title="Quality", icon=":material/fact_check:", url_path="quality"),
        "alerts": st.Page(alerts_page.render, title="Alerts", icon=":material/notifications:", url_path="alerts"),
        "replay": st.Page(replay_page.render, title="Replay", icon=":material/replay:", url_path="replay"),
        "settings": st.Page(settings_page.render, title="Settings", icon=":material/settings:", url_path="settings"),
    }
