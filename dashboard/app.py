"""The llmobs dashboard: `streamlit run dashboard/app.py` (or `llmobs
dashboard`, or started by `llmobs up`).  Every number comes from the HTTP
API named by LLMOBS_API_URL, with the key in LLMOBS_API_KEY."""

from __future__ import annotations

import streamlit as st

from dashboard.nav import pages

st.set_page_config(page_title="llmobs", page_icon=":material/monitoring:", layout="wide")
st.navigation(list(pages().values())).run()
