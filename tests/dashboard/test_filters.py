"""Filter values from the URL or the sidebar: good ones become API
parameters, bad ones are dropped with a hint naming a good example."""

from __future__ import annotations

from datetime import datetime, timezone

from dashboard import filters

NOW = datetime(2026, 11, 25, 10, 30, 15, tzinfo=timezone.utc).timestamp()


def test_relative_range_ends_at_the_next_whole_minute():
    f = filters.validate({"range": "24h", "model": "gpt-4o", "attr": "app.feature=search"})
    assert not f.errors
    params = dict(f.api(NOW))
    end = int(datetime(2026, 11, 25, 10, 31, tzinfo=timezone.utc).timestamp())
    assert params == {"start": str(end - 86400), "end": str(end), "model": "gpt-4o", "attr": "app.feature=search"}


def test_yesterday_is_the_previous_utc_day():
    start, end = filters.validate({"range": "yesterday"}).window(NOW)
    assert datetime.fromtimestamp(start, timezone.utc) == datetime(2026, 11, 24, tzinfo=timezone.utc)
    assert end - start == 86400


def test_custom_range_and_page_values_win():
    f = filters.validate({"range": "custom", "start": "2026-11-20T09:00", "end": "2026-11-21T09:00Z", "user_id": "a"})
    assert not f.errors and f.window() == (
        int(datetime(2026, 11, 20, 9, tzinfo=timezone.utc).timestamp()),
        int(datetime(2026, 11, 21, 9, tzinfo=timezone.utc).timestamp()),
    )
    assert dict(f.api(user_id="b"))["user_id"] == "b"


def test_bad_values_are_dropped_with_hints():
    f = filters.validate({"range": "custom", "start": "tuesday", "end": "2026-11-21", "status": "meh", "attr": "x"})
    assert f.range == "24h" and f.status == "" and f.attr == ""
    joined = " | ".join(f.errors)
    assert "start 'tuesday' is not a time: write it like 2026-11-24T09:00" in joined
    assert "status 'meh' is unknown: use ok or error" in joined
    assert "must look like key=value, e.g. app.feature=search" in joined
    assert "start must be before end" in filters.validate({"range": "custom", "start": "2026-11-22", "end": "2026-11-21"}).errors
    assert filters.validate({"range": "fortnight"}).errors == ("time range 'fortnight' is unknown: use one of 1h, 24h, 7d, 30d, yesterday, custom",)


def test_url_keeps_only_what_differs_from_defaults():
    f = filters.validate({"range": "24h", "service": "svc", "q": "refund"})
    assert filters.to_query(f) == {"service": "svc", "q": "refund"}
