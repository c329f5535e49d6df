"""HTTP benchmark: complete one-stop dossier lifecycles per second through the real server.

For each database (SQLite, PostgreSQL) the real server runs as a subprocess: `lienthong db
upgrade`, `lienthong demo`, then `lienthong serve --no-worker` on a free port. Client threads,
each with its own keep-alive `httpx.Client` and one bearer token per demo user, run
lifecycles: receive a dossier (`POST /api/v1/dossiers`), find its first task in the reception
inbox (`GET /api/v1/tasks`), then complete the six tasks (`POST /api/v1/tasks/{id}/complete`),
each next task's id taken from the previous response's `ready_tasks`.

Variants run interleaved, in an order rotated from round to round: each database with 16
clients (the goal) and with one client (latency without contention). Figures are medians over
rounds. Goal on 2 cores with PostgreSQL: >= 100 lifecycles/s and p99 <= 50 ms per request.
Writes bench/results/dossiers.json and refreshes its section of bench/README.md.

    python bench/dossiers.py [--quick] [--rounds R] [--duration S] [--no-write]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx
from sqlalchemy import create_engine, make_url, text

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/dossiers.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(REPO))

from bench.common import machine as machine_info  # noqa: E402
from bench.common import publish, version_of  # noqa: E402

PG_ENV = "LIENTHONG_BENCH_DATABASE_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLI = Path(sys.executable).parent / "lienthong"

PASSWORD = "demo"  # noqa: S105 - the demo users' password
PROCEDURE = "1.001193"  # đăng ký khai sinh: one_stop_standard at the demo commune
RECEPTION = {
    "procedure_code": PROCEDURE,
    "applicant": {"full_name": "Nguyễn Văn A", "id_number": "001090001234", "phone": "0912345678"},
    "channel": "counter",
    "complete": True,
}
# The six user tasks in order: (task, demo user, data).
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("receive", "tiepnhan", {}),
    ("assign", "lanhdao", {"next_assignee": "chuyenvien"}),
    ("appraise", "chuyenvien", {"appraisal": "eligible"}),
    ("approve", "lanhdao", {"decision": "approve"}),
    ("issue_result", "vanthu", {}),
    ("return_result", "tiepnhan", {}),
]
USERS = sorted({user for _, user, _ in STEPS})
KINDS = ("reception", "inbox", "complete")
REQUESTS_PER_LIFECYCLE = 2 + len(STEPS)
GOAL_RATE, GOAL_P99_MS = 100.0, 50.0
LOGINS_AT_ONCE = 2
STALE_RETRY_S, STALE_PAUSE_S = 10.0, 0.005  # how long, how often a stale read is retried


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU time all cores spent busy so far (Linux /proc/stat), in seconds."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return math.nan
    ticks = [int(x) for x in line[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    backend: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    version: str


def _env(data_dir: Path, port: int, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env.update(
        LIENTHONG_DATA_DIR=str(data_dir),
        LIENTHONG_DEMO="1",
        LIENTHONG_PORT=str(port),
        LIENTHONG_HOST="127.0.0.1",
        LIENTHONG_OBJECT_STORE="local",
    )
    if database_url:
        env["LIENTHONG_DATABASE_URL"] = database_url
    return env


def _cli(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(CLI), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"lienthong {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def serve(backend: str, database_url: str | None, version_: str) -> Iterator[Server]:
    """The real server on a fresh data directory (and database), stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"lienthong-bench-{backend}-") as tmp:
        port = free_port()
        env = _env(Path(tmp), port, database_url)
        _cli(["db", "upgrade"], env)
        _cli(["demo"], env)
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(CLI), "serve", "--no-worker"],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(backend, f"http://127.0.0.1:{port}", process, log, version_)
        try:
            _wait_healthy(server)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{server.backend} server did not become healthy:\n{tail}")


@contextmanager
def postgres_database(base_url: str) -> Iterator[tuple[str | None, str, str | None]]:
    """(url of a fresh database, server version, None) or (None, "", why); dropped afterwards."""
    name = f"lienthong_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                server_version = str(conn.execute(text("show server_version")).scalar())
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as e:  # noqa: BLE001 - any failure to connect means "no PostgreSQL"
            where = make_url(base_url).render_as_string()
            yield (
                None,
                "",
                f"PostgreSQL unreachable at {where}: {type(e).__name__}: {e}".split("\n")[0],
            )
            return
        try:
            yield (
                make_url(base_url).set(database=name).render_as_string(hide_password=False),
                server_version,
                None,
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --- clients -----------------------------------------------------------------------------


class Failed(Exception):
    """A request that did not answer 2xx (or did not answer); the lifecycle is abandoned."""


class Stale(Failed):
    """A 404, or an inbox without the dossier, right after the server answered 2xx for it."""


@dataclass
class Tally:
    """What one client thread saw during one phase; merged after the phase."""

    latencies: dict[str, list[float]] = field(default_factory=dict)  # kind -> ms
    lifecycles: int = 0
    errors: int = 0  # requests that did not answer 2xx
    conflicts: int = 0  # of which 409
    stale: int = 0  # reads that missed what a 2xx had just returned (retried)
    abandoned: int = 0  # lifecycles given up
    answered: list[float] = field(default_factory=list)  # perf_counter() of each 2xx
    samples: list[str] = field(default_factory=list)

    def add(self, kind: str, ms: float) -> None:
        self.latencies.setdefault(kind, []).append(ms)

    def note(self, why: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(why)

    def merge(self, other: Tally) -> None:
        for kind, values in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(values)
        self.lifecycles += other.lifecycles
        self.errors += other.errors
        self.conflicts += other.conflicts
        self.stale += other.stale
        self.abandoned += other.abandoned
        self.answered.extend(other.answered)
        self.samples.extend(other.samples[: max(0, 5 - len(self.samples))])


class Client:
    """One simulated desk: a keep-alive HTTP client logged in once as each demo user."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60.0)
        self.headers: dict[str, dict[str, str]] = {}
        for user in USERS:
            r = self.http.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
            r.raise_for_status()
            self.headers[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        self.tally = Tally()

    def close(self) -> None:
        self.http.close()

    def _call(self, kind: str, method: str, url: str, user: str, step: str = "", **kw: Any) -> Any:
        """One timed request; `step` also files the latency under `kind:step`."""
        started = time.perf_counter()
        try:
            r = self.http.request(method, url, headers=self.headers[user], **kw)
        except httpx.HTTPError as e:
            r = None
            failure = f"{kind}: {type(e).__name__}: {e}"
        ms = (time.perf_counter() - started) * 1000
        self.tally.add(kind, ms)
        if step:
            self.tally.add(f"{kind}:{step}", ms)
        if r is None:
            self.tally.errors += 1
            self._fail(failure)
        if not 200 <= r.status_code < 300:
            self.tally.errors += 1
            self.tally.conflicts += r.status_code == 409
            why = f"{kind}{':' + step if step else ''}: HTTP {r.status_code}: {r.text[:160]}"
            if r.status_code == 404:
                raise Stale(why)
            self._fail(why)
        self.tally.answered.append(time.perf_counter())
        return r.json()

    def _fail(self, why: str) -> NoReturn:
        self.tally.note(why)
        raise Failed(why)

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        """`attempt()`, again after a pause while it is Stale: the server answered before
        committing (FastAPI ends a request's session after sending the response), so what a
        2xx just returned may not be visible yet to the next request."""
        deadline = time.perf_counter() + STALE_RETRY_S
        while True:
            try:
                return attempt()
            except Stale as e:
                self.tally.stale += 1
                if time.perf_counter() > deadline:
                    self._fail(f"{e} (still after {STALE_RETRY_S:g} s)")
                if self.tally.stale <= 1:
                    self.tally.note(f"stale read, retried: {e}")
                time.sleep(STALE_PAUSE_S)

    def receive(self) -> str:
        """A dossier received at the counter, left waiting at reception; returns its code."""
        return str(
            self._call("reception", "POST", "/api/v1/dossiers", "tiepnhan", json=RECEPTION)["code"]
        )

    def _first_task(self, code: str) -> int:
        inbox = self._call("inbox", "GET", "/api/v1/tasks", "tiepnhan", params={"limit": 200})
        for t in inbox["items"]:
            if t["business_key"] == code and t["task"] == STEPS[0][0]:
                return int(t["id"])
        raise Stale(f"inbox: no '{STEPS[0][0]}' task for {code} among {len(inbox['items'])}")

    def lifecycle(self) -> None:
        try:
            self._lifecycle()
        except Failed:
            self.tally.abandoned += 1
            raise

    def _lifecycle(self) -> None:
        code = self.receive()
        task_id = self._retrying(lambda: self._first_task(code))
        for i, (task, user, data) in enumerate(STEPS):
            url = f"/api/v1/tasks/{task_id}/complete"
            body = {"data": data}
            done = self._retrying(
                lambda url=url, user=user, task=task, body=body: self._call(
                    "complete", "POST", url, user, step=task, json=body
                )
            )
            if i + 1 == len(STEPS):
                if done["status"] != "completed" or done["ready_tasks"]:
                    self._fail(f"complete: {code} not completed: {done['status']}")
                break
            nxt = STEPS[i + 1][0]
            task_id = next((t["id"] for t in done["ready_tasks"] if t["task"] == nxt), None)
            if task_id is None:
                self._fail(f"complete: no '{nxt}' after '{task}' for {code}")
        self.tally.lifecycles += 1


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _latency(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "mean": None}
    return {
        "n": len(values),
        "p50": round(_percentile(values, 50), 2),
        "p99": round(_percentile(values, 99), 2),
        "mean": round(statistics.fmean(values), 2),
    }


def phase(
    server: Server, clients: list[Client], duration: float, lifecycles: int | None = None
) -> dict[str, Any]:
    """Every client runs lifecycles back to back until `duration` has passed (or each has run
    `lifecycles`), finishing the one under way; returns the phase's figures."""
    for c in clients:
        c.tally = Tally()
    gate = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def loop(c: Client) -> None:
        gate.wait()
        done = 0
        while (lifecycles is None and time.perf_counter() < deadline[0]) or (
            lifecycles is not None and done < lifecycles
        ):
            try:
                c.lifecycle()
            except Failed:
                pass  # counted in the tally; the next lifecycle goes on
            except Exception as e:  # noqa: BLE001 - e.g. an unexpected body: count, go on
                c.tally.errors += 1
                c.tally.abandoned += 1
                c.tally.note(f"unexpected: {type(e).__name__}: {e}")
            done += 1

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    cpu0 = (_cpu_seconds(server.process.pid), _own_cpu_seconds(), _machine_busy_seconds())
    started = time.perf_counter()
    deadline[0] = started + duration
    gate.wait()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    cpu1 = (_cpu_seconds(server.process.pid), _own_cpu_seconds(), _machine_busy_seconds())
    tally = Tally()
    for c in clients:
        tally.merge(c.tally)
    return _figures(tally, started, duration, seconds, cpu0, cpu1)


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _figures(
    tally: Tally,
    started: float,
    duration: float,
    seconds: float,
    cpu0: tuple[float, ...],
    cpu1: tuple[float, ...],
) -> dict[str, Any]:
    every = [ms for kind in KINDS for ms in tally.latencies.get(kind, [])]
    done = max(tally.lifecycles, 1)
    server, client, busy = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    # Throughput in the steady window only: 2xx answers before the deadline, 8 to a lifecycle
    # (lifecycles still under way at the deadline count for the part they got through; the
    # drain after it, with fewer clients busy, does not count).
    in_window = sum(1 for t in tally.answered if t <= started + duration)
    window = duration if duration > 0 else seconds
    return {
        "lifecycles_per_s": round(in_window / REQUESTS_PER_LIFECYCLE / window, 2),
        "requests_per_s": round(in_window / window, 1),
        "window_s": round(window, 3),
        "lifecycles": tally.lifecycles,
        "seconds_with_drain": round(seconds, 3),
        "lifecycles_per_s_with_drain": round(tally.lifecycles / seconds, 2),
        "requests": len(every),
        "p50_ms": _latency(every)["p50"],
        "p99_ms": _latency(every)["p99"],
        "latency_ms": {kind: _latency(v) for kind, v in sorted(tally.latencies.items())},
        "errors": tally.errors,
        "conflicts_409": tally.conflicts,
        "stale_reads": tally.stale,
        "abandoned": tally.abandoned,
        "error_samples": tally.samples,
        # CPU per completed lifecycle: the server process, this client, and the rest of the
        # machine (PostgreSQL's backends, and anything else running meanwhile).
        "cpu_ms_per_lifecycle": {
            "server": round(1000 * server / done, 2),
            "client": round(1000 * client / done, 2),
            "other": round(1000 * (busy - server - client) / done, 2),
            "machine": round(1000 * busy / done, 2),
        },
        "machine_cpu_busy": round(busy / seconds, 2),  # cores busy on average
    }


# --- the run -----------------------------------------------------------------------------


@dataclass
class Target:
    server: Server
    clients: list[Client]


def _variant(backend: str, clients: int) -> str:
    return f"{backend}/{clients}"


def measure(targets: dict[str, Target], args: argparse.Namespace) -> dict[str, list[dict]]:
    variants: list[tuple[str, str, int]] = []
    for clients in (args.clients, 1):
        for backend in targets:
            variants.append((_variant(backend, clients), backend, clients))
    per_variant: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
    for r in range(args.rounds):
        shift = r % len(variants)
        for name, backend, clients in variants[shift:] + variants[:shift]:
            target = targets[backend]
            duration = args.duration if clients > 1 else args.single_duration
            figures = phase(target.server, target.clients[:clients], duration)
            figures["round"] = r + 1
            per_variant[name].append(figures)
            print(
                f"round {r + 1}/{args.rounds} {name:<13} {figures['lifecycles_per_s']:7.1f} "
                f"lifecycles/s  p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:7.1f} ms"
                f"  errors {figures['errors']}  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return per_variant


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds of every figure."""

    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None and not math.isnan(v)]
        return round(statistics.median(known), 2) if known else None

    kinds = sorted({k for f in rounds for k in f["latency_ms"]})
    rates = [f["lifecycles_per_s"] for f in rounds]
    return {
        "lifecycles_per_s": med(rates),
        "lifecycles_per_s_min": min(rates),
        "lifecycles_per_s_max": max(rates),
        "p50_ms": med([f["p50_ms"] for f in rounds]),
        "p99_ms": med([f["p99_ms"] for f in rounds]),
        "latency_ms": {
            k: {
                s: med([f["latency_ms"][k][s] for f in rounds if k in f["latency_ms"]])
                for s in ("p50", "p99", "mean")
            }
            for k in kinds
        },
        "cpu_ms_per_lifecycle": {
            k: med([f["cpu_ms_per_lifecycle"][k] for f in rounds])
            for k in ("server", "client", "other", "machine")
        },
        "machine_cpu_busy": med([f["machine_cpu_busy"] for f in rounds]),
        "lifecycles": sum(f["lifecycles"] for f in rounds),
        "errors": sum(f["errors"] for f in rounds),
        "conflicts_409": sum(f["conflicts_409"] for f in rounds),
        "stale_reads": sum(f["stale_reads"] for f in rounds),
        "abandoned": sum(f["abandoned"] for f in rounds),
    }


def machine() -> dict[str, Any]:
    return machine_info(
        sqlite=sqlite3.sqlite_version,
        **{k: version_of(d) for k, d in (("fastapi", "fastapi"), ("uvicorn", "uvicorn"),
           ("sqlalchemy", "SQLAlchemy"), ("psycopg", "psycopg"), ("httpx", "httpx"))},
    )  # fmt: skip


def _setup(
    backend: str, database_url: str | None, version_: str, args: argparse.Namespace
) -> tuple[Target, ExitStack]:
    """Start one server, log every client in, leave the backlog, warm up; the stack undoes."""
    stack = ExitStack()
    server: Server | None = None
    try:
        started = time.perf_counter()
        server = stack.enter_context(serve(backend, database_url, version_))
        # Logins verify argon2 (~0.5 s of CPU each here), on SQLite inside the write lock:
        # two at a time keeps the cores busy without queueing into SQLite's busy timeout.
        with ThreadPoolExecutor(LOGINS_AT_ONCE) as pool:
            clients = list(pool.map(lambda _: Client(server.url), range(args.clients)))
        for c in clients:
            stack.callback(c.close)
        for _ in range(args.backlog):  # cases left waiting: the inbox has a page to show
            clients[0].receive()
        phase(server, clients, 0, lifecycles=1)  # warm up: caches, connections, imports
        print(f"{backend} server ready in {time.perf_counter() - started:.0f} s", flush=True)
        return Target(server, clients), stack
    except BaseException:
        with stack:  # stops the server and removes its directory after the log is read
            if server is not None:
                tail = server.log.read_text(errors="replace")[-2000:]
                print(f"{backend} server log (end):\n{tail}", file=sys.stderr)
        raise


def run(args: argparse.Namespace) -> dict[str, Any]:
    pg_url = args.pg_url or os.environ.get(PG_ENV, PG_DEFAULT)
    servers: dict[str, Any] = {}
    with ExitStack() as stack:
        setups: list[tuple[str, str | None, str]] = [("sqlite", None, sqlite3.sqlite_version)]
        url, pg_version, pg_reason = stack.enter_context(postgres_database(pg_url))
        if url is None:
            print(f"postgresql skipped: {pg_reason}", file=sys.stderr)
            servers["postgresql"] = {"reason": pg_reason}
        else:
            setups.append(("postgresql", url, pg_version))
        print(f"starting {', '.join(b for b, _, _ in setups)} servers…", flush=True)
        with ThreadPoolExecutor(len(setups)) as pool:  # both start at once: half the wait
            futures = {b: pool.submit(_setup, b, u, v, args) for b, u, v in setups}
        targets: dict[str, Target] = {}
        failure: BaseException | None = None
        for backend, future in futures.items():
            try:
                target, undo = future.result()
            except BaseException as e:  # noqa: BLE001 - the other server is stopped first
                failure = failure or e
                continue
            stack.enter_context(undo)
            targets[backend] = target
            servers[backend] = {"version": target.server.version}
        if failure is not None:
            raise failure
        per_variant = measure(targets, args)
    return {"servers": servers, "variants": per_variant}


def goal(variants: dict[str, Any], clients: int) -> dict[str, Any]:
    pg = variants.get(_variant("postgresql", clients))
    rate = pg["median"]["lifecycles_per_s"] if pg else None
    p99 = pg["median"]["p99_ms"] if pg else None
    rate_ok = rate is not None and rate >= GOAL_RATE
    p99_ok = p99 is not None and p99 <= GOAL_P99_MS
    return {
        f"postgresql lifecycles/s >= {GOAL_RATE:g}": rate_ok,
        f"postgresql p99 <= {GOAL_P99_MS:g} ms": p99_ok,
        "met": rate_ok and p99_ok,
        "postgresql_lifecycles_per_s": rate,
        "postgresql_p99_ms": p99,
    }


# --- report ------------------------------------------------------------------------------

SECTION = """\
## Dossiers over HTTP: `bench/dossiers.py`

Complete one-stop dossiers per second through the real server, as clients see them. For each
database the script starts `lienthong serve --no-worker` as a subprocess on a fresh data
directory (SQLite file) or a fresh database on the PostgreSQL server of
`LIENTHONG_BENCH_DATABASE_URL` (default `postgresql+psycopg://postgres@127.0.0.1:5432/test`,
dropped afterwards), after `lienthong db upgrade` and `lienthong demo`. Client threads, each
with one keep-alive `httpx.Client` logged in once as each demo user, run lifecycles of
procedure 1.001193 back to back: `POST /api/v1/dossiers` (**reception**), one
`GET /api/v1/tasks?limit=200` of the reception clerk to find the dossier's `receive` task
(**inbox**; the backlog of cases left waiting at reception is on that page too), then the six
`POST /api/v1/tasks/{id}/complete` (**complete**: receive, assign, appraise, approve,
issue_result, return_result), each next task's id taken from the response's `ready_tasks`.
8 requests per lifecycle; clients never share a dossier, so a 409 is a bug. Any non-2xx counts
as an error. A **stale read** is a 404 for the task id the previous response has just listed,
or an inbox page without the dossier just received: the server sends its response before the
request's transaction commits (FastAPI closes a `yield` dependency, here the session, after the
response has gone), so the client's next request can miss what it was told. Stale reads are
retried every 5 ms (for 10 s at most; each 404 also counts as an error); after any other error
the lifecycle is abandoned.

Variants: each database with 16 clients (the goal) and with 1 client (per-request latency
without contention). Each round runs every variant for a fixed time, in an order rotated from
round to round; figures are medians over rounds. Lifecycles/s counts the 2xx answers within
that time, 8 to a lifecycle; then the clients finish the lifecycle under way (that drain, with
fewer clients busy, is left out of the rate but not of the latencies). Latency percentiles are
per round (nearest rank) over every request of the round. CPU per completed lifecycle is read
from `/proc`: the server process, the benchmark's own client threads (they share the machine),
and the rest of the machine (PostgreSQL's backends, and any other load). Setup (starting both
servers, 64 logins each at ~0.5 s of argon2, the backlog, one warm-up lifecycle per client) is
not measured and adds about a minute.

Goal on 2 cores with PostgreSQL and 16 clients: **≥ 100 lifecycles/s and p99 ≤ 50 ms**.

```sh
.venv/bin/python bench/dossiers.py              # ~2–3 minutes; writes results and this section
.venv/bin/python bench/dossiers.py --quick      # ~30 s of measuring, same shape
.venv/bin/python bench/dossiers.py --quick --no-write
```

Options: `--clients` (16), `--rounds` (5; `--quick` 2), `--duration` seconds per 16-client
phase (10; 4), `--single-duration` per 1-client phase (4; 2), `--backlog` (50),
`--pg-url`, `--no-write`. Writes `bench/results/dossiers.json` (machine, load average at start
and end, parameters, every round, medians, goal).
"""


def _fmt(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    rows = [
        "| database | clients | lifecycles/s (median) | rounds (min–max) | p50 / p99 ms, all "
        "| reception p50 / p99 | inbox p50 / p99 | complete p50 / p99 | CPU ms/lifecycle "
        "server / client / other | errors (409) | stale reads | abandoned |",
        "|---|---:|---:|---|---|---|---|---|---|---|---:|---:|",
    ]
    for v in result["variants"].values():
        m = v["median"]
        lat = m["latency_ms"]

        def pair(kind: str, lat: dict[str, Any] = lat) -> str:
            x = lat.get(kind)
            return f"{_fmt(x['p50'])} / {_fmt(x['p99'])}" if x else "n/a"

        cpu = m["cpu_ms_per_lifecycle"]
        rows.append(
            f"| {v['backend']} | {v['clients']} | {_fmt(m['lifecycles_per_s'])} | "
            f"{_fmt(m['lifecycles_per_s_min'])}–{_fmt(m['lifecycles_per_s_max'])} | "
            f"{_fmt(m['p50_ms'])} / {_fmt(m['p99_ms'])} | {pair('reception')} | "
            f"{pair('inbox')} | {pair('complete')} | {_fmt(cpu['server'])} / "
            f"{_fmt(cpu['client'])} / {_fmt(cpu['other'])} | {m['errors']} ({m['conflicts_409']}) | "
            f"{m['stale_reads']} | {m['abandoned']} |"
        )
    return "\n".join(rows)


def readme_block(result: dict[str, Any]) -> str:
    p, m, g = result["parameters"], result["machine"], result["goal"]
    load = result["load_average"]
    servers = result["servers"]
    pg = servers.get("postgresql", {})
    verdict = "met" if g["met"] else "NOT met"
    return "\n".join(
        [
            SECTION,
            "### Latest run",
            "",
            f"Latest run: {result['date']}; {p['rounds']} interleaved rounds of "
            f"{p['duration_s']:g} s (16 clients) and {p['single_duration_s']:g} s (1 client) per "
            f"database, backlog {p['backlog']}; Python {m['python']}, {m['cpu_count']} CPUs, "
            f"{m['platform']}, SQLite {m['sqlite']}, "
            f"PostgreSQL {pg.get('version') or pg.get('reason') or 'n/a'}. Load average "
            f"(1 min) {load['start'][0]:.2f} at start, {load['end'][0]:.2f} at end.",
            "",
            table(result),
            "",
            f"Goal (PostgreSQL, {p['clients']} clients) ≥ {GOAL_RATE:g} lifecycles/s and p99 ≤ "
            f"{GOAL_P99_MS:g} ms: **{verdict}** ({_fmt(g['postgresql_lifecycles_per_s'])} "
            f"lifecycles/s, p99 {_fmt(g['postgresql_p99_ms'])} ms).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="~30 s of measuring: fewer, shorter rounds"
    )
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (5; --quick 2)")
    ap.add_argument("--duration", type=float, help="seconds per 16-client phase (10; --quick 4)")
    ap.add_argument("--single-duration", type=float, help="seconds per 1-client phase (4; 2)")
    ap.add_argument("--backlog", type=int, default=50, help="cases left waiting at reception")
    ap.add_argument("--pg-url", help=f"PostgreSQL server (default ${PG_ENV} or {PG_DEFAULT})")
    ap.add_argument("--no-write", action="store_true", help="do not write results or README")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.duration = args.duration or (4.0 if args.quick else 10.0)
    args.single_duration = args.single_duration or (2.0 if args.quick else 4.0)
    load_start = os.getloadavg()
    started = time.perf_counter()
    out = run(args)
    load_end = os.getloadavg()
    variants: dict[str, Any] = {}
    for name, rounds in out["variants"].items():
        backend, clients = name.split("/")
        variants[name] = {
            "backend": backend,
            "clients": int(clients),
            "median": summarise(rounds),
            "rounds": rounds,
        }
    result = {
        "benchmark": "dossiers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in load_end],
        },
        "parameters": {
            "clients": args.clients,
            "rounds": args.rounds,
            "duration_s": args.duration,
            "single_duration_s": args.single_duration,
            "backlog": args.backlog,
            "procedure": PROCEDURE,
            "requests_per_lifecycle": REQUESTS_PER_LIFECYCLE,
            "quick": args.quick,
            "postgresql_url_env": PG_ENV,
        },
        "servers": out["servers"],
        "goal": goal(variants, args.clients),
        "variants": variants,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print()
    print(table(result))
    print(f"\ngoal: {result['goal']}")
    print(f"load average {result['load_average']}; run took {result['seconds']} s")
    if not args.no_write:
        written = publish("dossiers", result, readme_block(result))
        print(f"wrote {' and '.join(str(p.relative_to(REPO)) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
