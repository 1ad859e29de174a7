from __future__ import annotations

import pytest

from storage.metadata.repo import InvalidInput, MetadataRepo, NotFound


@pytest.fixture
def acme(repo: MetadataRepo) -> str:
    return repo.create_project("acme").id


def test_job_lifecycle_success(repo: MetadataRepo, acme: str) -> None:
    job = repo.create_job(acme, "reprice", {"since": "2025-01-01", "models": ["gpt-4o"]})
    assert job.status == "queued" and job.progress == 0 and job.started_at is None
    assert len(job.id) == 36
    assert repo.get_job(job.id) == job
    running = repo.update_job_progress(job.id, 0.25)
    assert running.status == "running" and running.progress == 0.25
    assert running.started_at is not None
    again = repo.update_job_progress(job.id, 0.5)
    assert again.started_at == running.started_at
    done = repo.finish_job(job.id, "succeeded", result={"repriced_spans": 1234})
    assert done.status == "succeeded" and done.progress == 1.0
    assert done.result == {"repriced_spans": 1234} and done.error is None
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert repo.get_job(job.id) == done
    assert done.params == {"since": "2025-01-01", "models": ["gpt-4o"]}
    with pytest.raises(InvalidInput, match="already finished"):
        repo.update_job_progress(job.id, 0.9)
    with pytest.raises(InvalidInput, match="already finished"):
        repo.finish_job(job.id, "failed", error="late")


def test_job_failure_straight_from_queue(repo: MetadataRepo, acme: str) -> None:
    job = repo.create_job(acme, "reprice")
    assert job.params == {}
    failed = repo.finish_job(job.id, "failed", error="ClickHouse unreachable")
    assert failed.status == "failed" and failed.error == "ClickHouse unreachable"
    assert failed.progress == 0 and failed.started_at is not None


def test_list_jobs_newest_first_and_per_project(repo: MetadataRepo, acme: str) -> None:
    repo.create_project("beta")
    ids = [repo.create_job(acme, "reprice", {"n": i}).id for i in range(3)]
    repo.create_job("beta", "reprice")
    assert [j.id for j in repo.list_jobs(acme)] == ids[::-1]
    assert [j.id for j in repo.list_jobs(acme, limit=2)] == ids[:0:-1]
    repo.finish_job(ids[1], "failed", error="x")
    assert [j.id for j in repo.list_jobs(acme, status="failed")] == [ids[1]]
    assert len(repo.list_jobs("beta")) == 1
    with pytest.raises(InvalidInput, match="unknown job status"):
        repo.list_jobs(acme, status="done")  # type: ignore[arg-type]


def test_job_validation(repo: MetadataRepo, acme: str) -> None:
    with pytest.raises(NotFound):
        repo.create_job("missing", "reprice")
    with pytest.raises(InvalidInput, match="kind"):
        repo.create_job(acme, "")
    with pytest.raises(InvalidInput, match="params must be a JSON object"):
        repo.create_job(acme, "reprice", ["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not JSON-serialisable"):
        repo.create_job(acme, "reprice", {"x": object()})
    job = repo.create_job(acme, "reprice")
    for bad in (-0.1, 1.5, float("nan"), "0.5", None):
        with pytest.raises(InvalidInput, match="progress"):
            repo.update_job_progress(job.id, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'succeeded' or 'failed'"):
        repo.finish_job(job.id, "running")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        repo.update_job_progress("nope", 0.5)
    with pytest.raises(NotFound):
        repo.finish_job("nope", "failed")
    assert repo.get_job("nope") is None
    assert repo.get_job(job.id).status == "queued"
