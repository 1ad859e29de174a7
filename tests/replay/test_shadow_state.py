"""Shadow loops' persisted state and leases on real SQLite and PostgreSQL:
what lets a loop come back after a restart, move off a crashed server, and
run on exactly one server at a time."""

from __future__ import annotations

from storage.metadata.repo import MetadataRepo
from storage.metadata.replay_repo import ReplayRepo
from tests.metadata.conftest import db_url, engine, pg_schema_url, pg_url, sqlite_url  # noqa: F401 - fixtures


def test_shadow_lease_lifecycle(engine):  # noqa: F811
    MetadataRepo(engine).create_project("p1")
    repo = ReplayRepo(engine)
    run = repo.create_run("p1", "shadow", {"shadow": {}}, {"variants": []}, {})
    state = repo.create_shadow(run.id, "server-a", 1_000, lease_seconds=60)
    assert (state.active, state.after_ns, state.window_start_ns, state.lease_owner) == (True, 1_000, 1_000, "server-a")
    assert repo.claim_shadows("server-b", 60) == []  # held by a
    assert repo.save_shadow(run.id, "server-a", after_ns=2_000, window_start_ns=1_000, stats={"seen": 3},
                            lease_seconds=60)  # fmt: skip
    assert repo.renew_shadows("server-a", [run.id], 60) == {run.id}

    repo.release_shadow(run.id, "server-a")  # clean shutdown of a
    [taken] = repo.claim_shadows("server-b", 60)
    assert (taken.run_id, taken.after_ns, taken.stats, taken.lease_owner) == (run.id, 2_000, {"seen": 3}, "server-b")
    assert not repo.save_shadow(run.id, "server-a", after_ns=9, window_start_ns=9, stats={}, lease_seconds=60)
    assert repo.renew_shadows("server-a", [run.id], 60) == set()

    # b crashes: its lease lapses and c takes the loop over.
    assert repo.save_shadow(run.id, "server-b", after_ns=3_000, window_start_ns=1_000, stats={"seen": 4},
                            lease_seconds=-1)  # fmt: skip
    [taken] = repo.claim_shadows("server-c", 60)
    assert (taken.lease_owner, taken.after_ns) == ("server-c", 3_000)

    stopped = repo.stop_shadow("p1", run.id)
    assert stopped is not None and not stopped.active and stopped.lease_owner is None
    assert repo.renew_shadows("server-c", [run.id], 60) == set()
    assert repo.claim_shadows("server-d", 60) == []
    assert repo.get_shadow("p1", run.id).active is False  # type: ignore[union-attr]
    assert repo.get_shadow("other", run.id) is None and repo.stop_shadow("other", run.id) is None
