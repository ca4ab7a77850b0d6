"""The clinic's inbox (seed 003 "Tilgængelighed til klinikken"): triaged on arrival,
ordered by severity and target time, audited, and safe under concurrent use."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import pytest

from almen import records
from almen.access import Request
from almen.access.inbox import assign, audit_trail, complete, queue, submit
from almen.errors import ConflictError, NotFoundError, ParameterError

T0 = dt.datetime(2026, 3, 2, 8, 0)


def test_queue_order_and_audit(tmp_path: Path) -> None:
    eng = records.connect(tmp_path)
    a = submit(eng, "100001", 1, Request("certificate", 40, "M"), actor="web", now=T0)
    b = submit(
        eng,
        "100001",
        2,
        Request("chest_pain", 60, "F"),
        actor="web",
        now=T0 + dt.timedelta(minutes=5),
    )
    c = submit(
        eng, "100001", 3, Request("fever", 3, "F"), actor="web", now=T0 + dt.timedelta(minutes=1)
    )
    submit(eng, "200002", 4, Request("chest_pain", 70, "M"), actor="web", now=T0)  # another clinic
    q = queue(eng, "100001")
    assert [i.id for i in q] == [b.id, c.id, a.id]  # acute, same day, routine
    assert q[0].target_at == T0 + dt.timedelta(minutes=5, hours=2)
    assign(eng, b.id, "dr. Jensen", actor="sekretær")
    with pytest.raises(ConflictError, match=r"assigned to dr\. Jensen"):
        assign(eng, b.id, "dr. Hansen", actor="sekretær")
    complete(eng, b.id, actor="dr. Jensen")
    with pytest.raises(ConflictError, match="is done"):
        complete(eng, b.id, actor="dr. Jensen")
    with pytest.raises(NotFoundError):
        assign(eng, 9999, "x", actor="y")
    assert [i.id for i in queue(eng, "100001")] == [c.id, a.id]
    trail = audit_trail(eng, b.id)
    assert [(e.actor, e.action) for e in trail] == [
        ("web", "submitted"), ("sekretær", "assigned"), ("dr. Jensen", "completed"),
    ]  # fmt: skip
    assert "chest_pain" in trail[0].detail


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    eng = records.connect(tmp_path)
    with pytest.raises(ParameterError, match="unknown reason"):
        submit(eng, "100001", 1, Request("headache", 40, "M"), actor="web")
    with pytest.raises(ParameterError, match="unknown flag"):
        submit(eng, "100001", 1, Request("fever", 40, "M", flags=frozenset({"vip"})), actor="web")


def test_concurrent_submissions_and_assignments_lose_nothing(tmp_path: Path) -> None:
    """8 threads submit 25 requests each; then 8 threads race to assign and complete
    every request. Every request is stored once, assigned exactly once, completed
    exactly once, and the audit trail has one line per successful change."""
    eng = records.connect(tmp_path)
    threads, per = 8, 25
    errors: list[BaseException] = []

    def submitter(k: int) -> None:
        try:
            for i in range(per):
                submit(
                    eng, "100001", k * 1000 + i, Request("fever", 30 + i % 40, "F"), actor=f"s{k}"
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=submitter, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    items = queue(eng, "100001")
    assert len(items) == threads * per
    assert len({i.patient_id for i in items}) == threads * per

    won: Counter[int] = Counter()
    done: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(k: int) -> None:
        try:
            for item in items:
                try:
                    assign(eng, item.id, f"w{k}", actor=f"w{k}")
                    with lock:
                        won[item.id] += 1
                except ConflictError:
                    pass
                try:
                    complete(eng, item.id, actor=f"w{k}")
                    with lock:
                        done[item.id] += 1
                except ConflictError:
                    pass
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    ws = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    assert not errors
    assert queue(eng, "100001") == []
    assert len(queue(eng, "100001", status=("done",))) == threads * per
    assert all(done[i.id] == 1 for i in items)
    assert all(won[i.id] <= 1 for i in items)  # a request done while new is never assigned
    for item in items[:20]:
        actions = [e.action for e in audit_trail(eng, item.id)]
        assert actions.count("submitted") == 1 and actions.count("completed") == 1
        assert actions.count("assigned") == won[item.id]
