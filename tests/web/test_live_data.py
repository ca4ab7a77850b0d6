"""A web app for many users while data changes (issue 14 item 4): commands write the
warehouse while the app serves, the app picks up what they wrote without a restart,
different results are computed side by side and the same result once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from almen.config import get_settings
from almen.warehouse import WAREHOUSE_FILE, WRITER_SUFFIX, Warehouse
from almen.web import create_app
from tests.web.conftest import PASSWORD, Site, build_site


@pytest.fixture
def live(site: Site, tmp_path: Path) -> Site:
    """A private copy of the web site's data (these tests write it)."""
    data = tmp_path / "data"
    shutil.copytree(site.data, data)
    return build_site(data)


def _login(app: object, user: str = "klinik") -> TestClient:
    http = TestClient(app)  # type: ignore[arg-type]
    assert http.post("/api/login", json={"username": user, "password": PASSWORD}).status_code == 200
    return http


def _almen(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALMEN_DATA": str(data), "ALMEN_LOCK_WAIT": "60"}
    return subprocess.run([sys.executable, "-m", "almen", *args], env=env, text=True,
                          capture_output=True, timeout=600)  # fmt: skip


def _wait_for(check, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_settle_runs_while_the_app_serves_and_the_app_shows_the_new_run(live: Site) -> None:
    """Before: the app held the DuckDB file open for its life, so `almen settle` failed
    on the lock and the app never saw a new settlement. Now the command waits at most
    for one computation, and the app starts a new generation with the new run."""
    http = _login(live.app)
    url = f"/api/clinics/{live.clinic}/settlement"
    before = http.get(url).json()
    runs_before = {r["run_id"] for r in before["months"]}
    assert http.get("/api/health").json()["warehouse"]["generation"] == 1
    done = _almen(live.data, "settle", "--year", "2025", "--month", "1", "--format", "csv",
                  "--output", str(live.data / "jan.csv"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    time.sleep(1.1)  # the app looks at the warehouse at most once a second
    health = http.get("/api/health").json()
    assert health["warehouse"]["generation"] == 2 and health["status"] == "ok", str(health)[150:]
    after = http.get(url).json()["months"]
    jan = {r["run_id"] for r in after if r["month"].startswith("2025-01")}
    assert len(jan) == 1 and not jan & runs_before  # January from the new run
    rest = {r["run_id"] for r in after if not r["month"].startswith("2025-01")}
    assert rest <= runs_before  # the other months as they were


def test_the_app_serves_what_it_has_while_a_command_writes(live: Site) -> None:
    """While a command writes (its marker beside the file, its process alive), cached
    results are served from the last complete version and uncached ones answer 503 with
    Retry-After; /api/health says the results are not current."""
    http = _login(live.app)
    url = f"/api/clinics/{live.clinic}/settlement"
    assert http.get(url).status_code == 200
    marker = live.data / (WAREHOUSE_FILE + WRITER_SUFFIX)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        marker.write_text(str(writer.pid))
        time.sleep(1.1)
        assert http.get(url).status_code == 200  # cached: served
        busy = http.get(f"/api/clinics/{live.clinic}/overview")  # not computed yet
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        health = http.get("/api/health").json()
        assert health["status"] == "stale" and health["warehouse"]["being_written"]
    finally:
        writer.kill()
        writer.wait()
    # a marker left by a process that died does not stop the app
    assert http.get(f"/api/clinics/{live.clinic}/overview").status_code == 200
    marker.unlink()


def test_a_replaced_warehouse_is_picked_up_without_a_restart(live: Site) -> None:
    """`almen synth` replaces the file (a new inode): the app's next look sees a new
    version and drops every result computed from the old one."""
    services = live.app.state.services  # type: ignore[attr-defined]
    areas = services.areas()
    assert ("areas",) in services.generation().cache
    copy = live.data / "copy.duckdb"
    shutil.copy(live.data / WAREHOUSE_FILE, copy)
    os.replace(copy, live.data / WAREHOUSE_FILE)
    time.sleep(1.1)
    gen = services.generation()
    assert gen.number == 2 and ("areas",) not in gen.cache
    assert services.areas().equals(areas)


def test_different_results_are_computed_side_by_side_and_the_same_once(live: Site) -> None:
    """Per-key locks: a computation for one key that waits for another key's computation
    to start finishes (under one global lock it would wait for ever); twenty threads
    asking for one key compute it once."""
    services = live.app.state.services  # type: ignore[attr-defined]
    started = threading.Event()
    out: dict[str, object] = {}

    def first(wh: Warehouse) -> str:
        assert started.wait(20), "the second computation never started"
        return "a"

    def second(wh: Warehouse) -> str:
        started.set()
        return "b"

    t = threading.Thread(target=lambda: out.update(a=services.cached(("k", "a"), first)))
    t.start()
    out["b"] = services.cached(("k", "b"), second)
    t.join(30)
    assert out == {"a": "a", "b": "b"}

    calls = []

    def slow(wh: Warehouse) -> int:
        calls.append(1)
        time.sleep(0.3)
        return wh.row_count("clinic")

    threads = [threading.Thread(target=services.cached, args=(("k", "once"), slow))
               for _ in range(20)]  # fmt: skip
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(calls) == 1


def test_a_command_waits_for_the_app_and_says_so_when_it_gives_up(live: Site) -> None:
    """A command that cannot take the file within ALMEN_LOCK_WAIT exits 2 with a busy
    message naming the file (no traceback)."""
    services = live.app.state.services  # type: ignore[attr-defined]
    with services.reading():  # the app is computing something
        env = {**os.environ, "ALMEN_DATA": str(live.data), "ALMEN_LOCK_WAIT": "0.5"}
        got = subprocess.run([sys.executable, "-m", "almen", "settle", "--year", "2025",
                              "--month", "1"], env=env, text=True, capture_output=True,
                             timeout=300)  # fmt: skip
    assert got.returncode == 2
    assert "busy" in got.stderr and WAREHOUSE_FILE in got.stderr
    assert "Traceback" not in got.stderr
    assert not (live.data / (WAREHOUSE_FILE + WRITER_SUFFIX)).exists()


def test_a_fresh_app_over_the_site_reads_every_page_without_holding_the_file(
    live: Site,
) -> None:
    """Between computations the app holds no connection: a writer can open the file."""
    app = create_app(get_settings(os.environ, data=live.data))
    http = _login(app)
    assert http.get(f"/api/clinics/{live.clinic}/settlement").status_code == 200
    with Warehouse.connect(live.data) as wh:  # would fail on the app's lock before
        assert wh.row_count("clinic") > 0
