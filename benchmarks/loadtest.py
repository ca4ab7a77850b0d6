"""Load test (issue 7): 20 concurrent clients on the clinic dashboard API, loopback.

Run `python benchmarks/loadtest.py DATA_DIR` (or `make loadtest`) on a warehouse made by
`almen synth --scale 1.0`. It writes the year's settlement if it is missing, makes a
load-test clinic user in the records store, serves the app with Uvicorn on a free
loopback port, waits for its start-up warm-up (GET /api/health) and times it, times the
clinic's first dashboard and service-overview requests, then runs 20 client threads, each
sending ``--requests`` GETs of /api/clinics/{clinic}/dashboard (clinics in turn from the
user's... one clinic: a clinic user sees one). Target: p95 latency under 100 ms. The
figures go into docs/benchmarks.md between markers.

Then the mixed test (issue 14 item 4): at 20 and then 100 clients, each client a user of
one role (national, region, cluster, or one of 100 clinics), each sending its role's
pages and API routes in turn, uncached ones included (every clinic's service overview and
clinic page is computed on its first request; national users ask for the distribution of
a different number of new capacities each time). p50/p95 per kind of request and overall.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np

from almen import population, records
from almen.warehouse import Warehouse
from almen.web.auth import add_user
from almen.web.demo import settle_demo_year
from docblock import measured_on, verdict, write_block

YEAR = 2025
PASSWORD = "load test password"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=100, help="per client")
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with Warehouse.connect(args.data) as wh:
        settle_demo_year(wh, YEAR)
        areas = population.clinic_areas(wh).sort("provider_number")
        n_claims = wh.row_count("claim")
    clinic = areas["provider_number"][len(areas) // 2]
    add_user(records.connect(args.data), "loadtest", PASSWORD, "clinic", clinic)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the server in its own process (as `almen serve` runs it), so that the clients do
    # not share its interpreter lock
    server = subprocess.Popen(
        [sys.executable, "-m", "almen", "--data", str(args.data), "serve", "--port", str(port),
         "--year", str(YEAR)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                httpx.get(f"{base}/api/me", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        url = f"{base}/api/clinics/{clinic}/dashboard"
        login = {"username": "loadtest", "password": PASSWORD}
        t1 = time.perf_counter()
        while not (health := httpx.get(f"{base}/api/health", timeout=60).json())["warm"][
            "finished"
        ]:
            time.sleep(0.5)
        warm_s = time.perf_counter() - t1
        steps = health["warm"]["ready"]
        if health["warm"]["failed"]:
            print("warm-up steps failed:", health["warm"]["failed"], file=sys.stderr)
        with httpx.Client(base_url=base, timeout=600) as c:
            c.post("/api/login", json=login).raise_for_status()
            a = time.perf_counter()
            c.get(url).raise_for_status()
            first_dashboard = time.perf_counter() - a
            a = time.perf_counter()
            c.get(f"/api/clinics/{clinic}/overview").raise_for_status()
            first_overview = time.perf_counter() - a
        latencies: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.clients)

        def client() -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                c.post("/api/login", json=login).raise_for_status()
                barrier.wait()
                for _ in range(args.requests):
                    a = time.perf_counter()
                    r = c.get(url)
                    took = time.perf_counter() - a
                    with lock:
                        latencies.append(took)
                        if r.status_code != 200:
                            errors.append(r.status_code)

        t2 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t2
        mixed_rows = [mixed(base, areas, args.data, clients, per)
                      for clients, per in ((20, 10), (100, 5))]  # fmt: skip
    finally:  # the server stops whatever happens
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    ok = p95 < 100 and not errors
    text = "\n".join([
        measured_on(f"the scale-1 warehouse ({n_claims:,} claims), `almen serve` (Uvicorn, one "
                    "process) on loopback, the clients in another process on the same cores."),
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| set-up (settlement table if missing, user) | {t1 - t0:.1f} s | |",
        f"| start-up warm-up in the background (the app serves meanwhile) | {warm_s:.1f} s | |",
        "| of which: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + " | | |",
        f"| the clinic's first dashboard request after the warm-up | {first_dashboard * 1000:.0f} ms | |",
        f"| the clinic's first service overview (read from the shared summary, not a new check of the year) | {first_overview:.2f} s | |",
        f"| requests: {args.clients} clients × {args.requests} GET /api/clinics/{{p}}/dashboard | {len(ms):,} in {wall:.1f} s ({len(ms) / wall:,.0f}/s) | |",
        f"| latency p50 / p95 / p99 | {p50:.1f} / {p95:.1f} / {p99:.1f} ms | p95 < 100 ms ({verdict(ok)}) |",
        f"| mean latency; errors | {statistics.fmean(ms):.1f} ms; {len(errors)} | 0 errors |",
        "",
        "Mixed roles, clinics and pages (uncached included; p50 / p95 per kind of request):",
        "",
        "| clients | requests | wall | overall p50 / p95 | kind: p50 / p95 (n) | errors |",
        "|---|---|---|---|---|---|",
        *mixed_rows,
    ])  # fmt: skip
    print(text)
    write_block(args.doc, "loadtest", text, "Web app load test (issue 7)")
    return 0 if ok else 1


def _routes(role: str, scope: str, areas, k: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(kind, path) a user of ``role`` asks for, in turn; kinds marked uncached are
    computed on their first request."""
    if role == "clinic":
        return [("clinic dashboard", f"/api/clinics/{scope}/dashboard"),
                ("clinic overview (uncached first)", f"/api/clinics/{scope}/overview"),
                ("clinic page (uncached first)", f"/clinic/{scope}"),
                ("clinic settlement", f"/api/clinics/{scope}/settlement")]  # fmt: skip
    if role == "cluster":
        return [("cluster page", f"/cluster/{scope}"),
                ("indicators", f"/api/indicators?cluster={scope}")]  # fmt: skip
    if role == "region":
        return [("region page", f"/region/{scope}"),
                ("findings by municipality", "/api/findings?by=municipality")]  # fmt: skip
    return [("national page", "/national"), ("need", "/api/capacity/need"),
            ("distribution (uncached)", f"/api/capacity/distribute?new={100 + k}")]  # fmt: skip


def mixed(base: str, areas, data: Path, clients: int, per: int) -> str:  # type: ignore[no-untyped-def]
    """``clients`` users at once, each ``per`` rounds of its role's requests."""
    import uuid

    eng = records.connect(data)
    tag = uuid.uuid4().hex[:6]
    clinics = areas["provider_number"].to_list()
    step = max(1, len(clinics) // 100)
    users: list[tuple[str, str, str]] = []
    for i in range(clients):
        kind = ("national", "region", "cluster")[i] if i < 3 else "clinic"
        scope = {"national": "", "region": areas["region"][0], "cluster": areas["cluster"][0],
                 "clinic": clinics[(i * step) % len(clinics)]}[kind]  # fmt: skip
        name = f"load-{tag}-{i}"
        add_user(eng, name, PASSWORD, kind, scope or None)
        users.append((name, kind, scope))
    got: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        name, kind, scope = users[i]
        with httpx.Client(base_url=base, timeout=600) as c:
            c.post("/api/login", json={"username": name, "password": PASSWORD}).raise_for_status()
            barrier.wait()
            for r in range(per):
                for what, path in _routes(kind, scope, areas, i * per + r):
                    a = time.perf_counter()
                    resp = c.get(path)
                    with lock:
                        got.append((what, time.perf_counter() - a, resp.status_code))

    t = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    ms = np.array([g[1] for g in got]) * 1000
    errors = sum(1 for g in got if g[2] != 200)
    kinds = []
    for what in dict.fromkeys(g[0] for g in got):
        k = np.array([g[1] for g in got if g[0] == what]) * 1000
        kinds.append(
            f"{what}: {np.percentile(k, 50):,.0f} / {np.percentile(k, 95):,.0f} ms ({len(k)})"
        )
    p50, p95 = np.percentile(ms, [50, 95])
    return (f"| {clients} | {len(ms):,} | {wall:.1f} s | {p50:,.0f} / {p95:,.0f} ms | "
            + "; ".join(kinds) + f" | {errors} |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
