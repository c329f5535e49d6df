"""Engine benchmark: one-stop lifecycles per second, raw SpiffWorkflow against our runtime.

Four variants run interleaved in one process, so their ratios share the machine's noise:

(a) raw SpiffWorkflow, in memory;
(b) raw SpiffWorkflow, serialising the whole workflow (spec included) to JSON after every step;
(c) our persisted runtime on a SQLite file, one transaction per step, like a request;
(d) the same on PostgreSQL (`LIENTHONG_BENCH_DATABASE_URL`), null when it is unreachable.

One lifecycle is `one_stop_standard` from start to end: six user tasks, the exclusive
gateway, and the deadline timer of the event subprocess waiting (far in the future).
Goal: (c) >= 1.0x (b). Writes bench/results/engine.json and refreshes the table in
bench/README.md.

    python bench/engine.py [--lifecycles N] [--rounds R] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/engine.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(REPO))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.task import Task as SpiffTask  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import Engine, event, make_url, select, text  # noqa: E402
from sqlalchemy.engine.default import DefaultDialect  # noqa: E402
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker  # noqa: E402

from bench.common import machine as machine_info  # noqa: E402
from bench.common import publish, version_of  # noqa: E402
from engine.agencies import get_agency  # noqa: E402
from engine.auth import principal_for  # noqa: E402
from engine.principal import Principal  # noqa: E402
from engine.runtime import serializer as state_format  # noqa: E402
from engine.runtime.instances import start_instance  # noqa: E402
from engine.runtime.tasks import complete_task, inbox  # noqa: E402
from engine.setup import install_shipped  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import User, WorkflowTask  # noqa: E402

PROCESS_ID = "one_stop_standard"
BPMN = REPO / "workflows" / "one_stop" / f"{PROCESS_ID}.bpmn"
WORKFLOWS = REPO / "workflows"
PG_ENV = "LIENTHONG_BENCH_DATABASE_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

AGENCY_CODE = "000.01.20.H99"  # the demo commune (UBND xã Hoà Bình)
START_DATA = {"due_at": "2099-01-01T00:00:00+07:00"}
TASK_DATA: dict[str, dict[str, Any]] = {
    "assign": {"next_assignee": "chuyenvien"},
    "appraise": {"appraisal": "eligible"},
    "approve": {"decision": "approve"},
    # No result file: the `sign` service task after it has nothing to seal.
    "issue_result": {"result_number": "", "result_file_id": ""},
}
ROLE_USERS = {
    "reception": "tiepnhan",
    "leader": "lanhdao",
    "specialist": "chuyenvien",
    "clerk": "vanthu",
}
USER_TASKS = 6
INBOX_CALLS = 20  # inbox() calls per round and database
VARIANTS = {
    "a": "raw SpiffWorkflow, in memory",
    "b": "raw SpiffWorkflow + full JSON after every step",
    "c": "lienthong runtime, SQLite",
    "d": "lienthong runtime, PostgreSQL",
    # Extra, not part of the goal: the least (c) could cost with today's state format.
    "floor": "raw SpiffWorkflow + our spec-less state dumped and reloaded every step, no DB",
}


class _RawScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's own script engine; the `sign` service task, with no file, returns none."""

    def call_service(self, task: SpiffTask, **kwargs: Any) -> str:
        file_id = kwargs.get("operation_params", {}).get("file_id", {}).get("value")
        return json.dumps(file_id or None)


class Raw:
    """Variants (a) and (b): SpiffWorkflow alone, the spec parsed once."""

    def __init__(self) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(BPMN))
        self.spec = parser.get_spec(PROCESS_ID)
        self.subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.last_json_bytes = 0
        self.engine = _RawScriptEngine()

    def lifecycle(self, serialise: bool) -> None:
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.engine)
        workflow.task_tree.data.update(START_DATA)
        workflow.do_engine_steps()
        if serialise:
            self.serializer.serialize_json(workflow)
        done = 0
        while ready := workflow.get_tasks(state=TaskState.READY, manual=True):
            task = ready[0]
            task.data.update(TASK_DATA.get(task.task_spec.name, {}))
            task.run()
            workflow.do_engine_steps()
            if serialise:
                self.last_json_bytes = len(self.serializer.serialize_json(workflow))
            done += 1
        assert done == USER_TASKS and workflow.is_completed(), (done, workflow.is_completed())

    def lifecycle_roundtrip(self) -> None:
        """The floor of (c): each step restores the workflow from our format and saves it."""
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.engine)
        workflow.task_tree.data.update(START_DATA)
        workflow.do_engine_steps()
        state = state_format.dumps(workflow)
        done = 0
        while True:
            workflow = state_format.loads(state, self.spec, self.subprocess_specs)
            workflow.script_engine = self.engine
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            ready[0].data.update(TASK_DATA.get(ready[0].task_spec.name, {}))
            ready[0].run()
            workflow.do_engine_steps()
            state = state_format.dumps(workflow)
            done += 1
        assert done == USER_TASKS and workflow.is_completed(), (done, workflow.is_completed())


@dataclass
class Runtime:
    """Variants (c) and (d): our runtime, one transaction per step."""

    factory: sessionmaker[Session]
    agency_id: int
    principals: dict[str, Principal]
    backend: str
    server: str = ""
    state_bytes: list[int] = field(default_factory=list)

    @classmethod
    def install(cls, engine: Engine, backend: str) -> Runtime:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with factory.begin() as s:
            install_shipped(s, WORKFLOWS, seed_demo=True)
        with factory.begin() as s:
            agency_id = get_agency(s, AGENCY_CODE).id
            principals = {
                role: principal_for(s, s.scalar(select(User.id).where(User.username == name)))
                for role, name in ROLE_USERS.items()
            }
            server = s.execute(
                text("select sqlite_version()" if backend == "sqlite" else "show server_version")
            ).scalar()
        return cls(factory, agency_id, principals, backend, str(server))

    def lifecycle(self) -> None:
        with self.factory.begin() as s:
            loaded = start_instance(s, PROCESS_ID, agency_id=self.agency_id, data=dict(START_DATA))
            instance_id = loaded.row.id
            nxt = _ready_task(s, instance_id)
        done = 0
        while nxt is not None:
            task_id, spec, role = nxt
            with self.factory.begin() as s:
                loaded = complete_task(
                    s, task_id, self.principals[role], dict(TASK_DATA.get(spec, {}))
                )
                nxt = _ready_task(s, instance_id)
            done += 1
        self.state_bytes.append(len(loaded.row.state))
        assert done == USER_TASKS and loaded.row.status == "completed", (done, loaded.row.status)

    def backlog(self, count: int) -> None:
        """Leave `count` cases waiting at reception, so an inbox has a full page to show."""
        for _ in range(count):
            with self.factory.begin() as s:
                start_instance(s, PROCESS_ID, agency_id=self.agency_id, data=dict(START_DATA))

    def inbox_call(self) -> None:
        """One `inbox()` of the reception clerk in its own transaction, as a request does."""
        with self.factory.begin() as s:
            inbox(s, self.principals["reception"])


def _ready_task(session: Session, instance_id: int) -> tuple[int, str, str] | None:
    # What the API hands back after a step: the instance's READY task (one indexed query).
    row = session.execute(
        select(WorkflowTask.id, WorkflowTask.task_spec, WorkflowTask.role)
        .where(WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready")
        .order_by(WorkflowTask.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


@contextmanager
def sqlite_runtime() -> Iterator[Runtime]:
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            yield Runtime.install(engine, "sqlite")
        finally:
            engine.dispose()


@contextmanager
def postgres_runtime(base_url: str) -> Iterator[tuple[Runtime | None, str | None]]:
    """A fresh database on the server of `base_url`, dropped afterwards; (None, why) if none."""
    name = f"lienthong_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as e:  # noqa: BLE001 - any failure to connect means "no PostgreSQL"
            where = make_url(base_url).render_as_string()
            yield None, f"PostgreSQL unreachable at {where}: {type(e).__name__}: {e}".split("\n")[0]
            return
        url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        try:
            yield Runtime.install(engine, "postgresql"), None
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _rate(lifecycle: Callable[[], None], count: int) -> float:
    gc.collect()
    started = time.perf_counter()
    for _ in range(count):
        lifecycle()
    return count / (time.perf_counter() - started)


def measure(
    runners: dict[str, Callable[[], None]], counts: dict[str, int], rounds: int
) -> dict[str, list[float]]:
    """Lifecycles/s per variant and round; each round rotates the order of the variants.

    `counts` is how many lifecycles one timed block of each variant runs.
    """
    for run in runners.values():  # warm caches (spec cache, statement cache, imports)
        run()
    names = list(runners)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            rates[name].append(_rate(runners[name], counts[name]))
        line = "  ".join(
            f"{n}={1000 / rates[n][-1]:.2f}ms"
            if n.startswith("inbox")
            else f"{n}={rates[n][-1]:.1f}"
            for n in names
        )
        print(f"round {r + 1}/{rounds}: {line}  (lifecycles/s)", flush=True)
    return rates


def profile(runtime: Runtime, lifecycles: int, top: int = 25) -> str:
    """cProfile of variant (c): the top functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(lifecycles):
        runtime.lifecycle()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


class Timers:
    """Wall-clock time of selected functions, patched in place: no profiler overhead."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._depth: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def patch(
        self, label: str, owner: Any, attr: str, when: Callable[..., bool] | None = None
    ) -> None:
        """Time calls of `owner.attr` under `label`; `when(*args)` picks which calls count."""
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        self._undo.append((owner, attr, original))
        setattr(owner, attr, self._wrap(label, original, when))

    def _wrap(
        self, label: str, fn: Callable[..., Any], when: Callable[..., bool] | None
    ) -> Callable[..., Any]:
        self.seconds.setdefault(label, 0.0)
        self.calls.setdefault(label, 0)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if when is not None and not when(*args):
                return fn(*args, **kwargs)
            depth = self._depth.get(label, 0)
            self._depth[label] = depth + 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth[label] = depth
                if depth == 0:  # outermost call only: recursion is not counted twice
                    self.seconds[label] += time.perf_counter() - started
                    self.calls[label] += 1

        return timed

    def undo(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def _patch_runtime(timers: Timers) -> None:
    from engine import audit
    from engine.runtime import forms, instances, serializer, tasks

    for label, owner, attr in [
        ("find task row + access check", tasks, "_task_row"),
        ("load_instance", tasks, "load_instance"),
        ("  load_definition (definition row + spec cache)", instances, "load_definition"),
        ("  cache.take (live workflow)", instances.cache, "take"),
        ("  serializer.loads (deserialise)", serializer, "loads"),
        ("  _bind (script engine)", instances, "_bind"),
        ("_form (task form + definition row)", tasks, "_form"),
        ("  render_form", tasks, "render_form"),
        ("  resolve_lane (x-choices)", forms, "resolve_lane"),
        ("validate_submission (jsonschema)", tasks, "validate_submission"),
        ("task.run", SpiffTask, "run"),
        ("advance", tasks, "advance"),
        ("advance", instances, "advance"),
        ("  do_engine_steps", BpmnWorkflow, "do_engine_steps"),
        ("  refresh_timers", BpmnWorkflow, "refresh_timers"),
        ("  persist", instances, "persist"),
        ("    serializer.dumps (serialise)", serializer, "dumps"),
        ("    _sync_tasks (tasks table)", instances, "_sync_tasks"),
        ("      resolve_lane", instances, "resolve_lane"),
        ("    _next_timer", instances, "_next_timer"),
        ("latest_definition (start)", instances, "latest_definition"),
        ("audit.record", audit, "record"),
        ("calendar_for", instances, "calendar_for"),
        ("next READY task lookup (bench)", sys.modules[__name__], "_ready_task"),
        ("Session.get", Session, "get"),
        ("Session.flush", Session, "flush"),
    ]:
        timers.patch(label, owner, attr)
    # The unit of work's own commit (its last flush + COMMIT), not a flush's subtransaction.
    timers.patch(
        "commit (last flush + COMMIT)", SessionTransaction, "commit", lambda t: t._parent is None
    )
    timers.patch("  driver COMMIT", DefaultDialect, "do_commit")
    timers.patch("pool pre-ping (PostgreSQL)", DefaultDialect, "_do_ping_w_event")


def breakdown(runtime: Runtime, lifecycles: int) -> tuple[str, dict[str, Any]]:
    """Where one lifecycle's wall-clock time goes (inclusive ms; indented = part of above)."""
    timers = Timers()
    sql = {"seconds": 0.0, "count": 0}
    stack: list[float] = []

    def before(*_: Any) -> None:
        stack.append(time.perf_counter())

    def after(*_: Any) -> None:
        sql["seconds"] += time.perf_counter() - stack.pop()
        sql["count"] += 1

    engine = runtime.factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    _patch_runtime(timers)
    try:
        started = time.perf_counter()
        for _ in range(lifecycles):
            runtime.lifecycle()
        whole = (time.perf_counter() - started) / lifecycles
    finally:
        timers.undo()
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    timers.seconds["SQL statements (driver execute)"] = sql["seconds"]
    timers.calls["SQL statements (driver execute)"] = sql["count"]
    lines = [
        f"wall-clock breakdown, {runtime.backend}, {lifecycles} lifecycles "
        f"({whole * 1000:.1f} ms each = 7 transactions):",
        f"  {'':<44} {'ms/lifecycle':>12} {'%':>6} {'calls/lifecycle':>16}",
    ]
    data: dict[str, Any] = {"lifecycle_ms": round(whole * 1000, 2), "parts": {}}
    for label, seconds in timers.seconds.items():
        per = seconds / lifecycles
        calls = timers.calls[label] / lifecycles
        lines.append(f"  {label:<44} {per * 1000:12.2f} {100 * per / whole:6.1f} {calls:16.1f}")
        data["parts"][label.strip()] = {"ms": round(per * 1000, 3), "calls": calls}
    return "\n".join(lines) + "\n", data


def machine() -> dict[str, Any]:
    return machine_info(
        spiffworkflow=version_of("SpiffWorkflow"),
        sqlalchemy=version_of("SQLAlchemy"),
        psycopg=version_of("psycopg"),
    )


def summarise(rates: dict[str, list[float]], pg_reason: str | None) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for key, label in VARIANTS.items():
        runs = rates.get(key)
        variants[key] = {
            "label": label,
            "median": round(statistics.median(runs), 2) if runs else None,
            "rounds": [round(x, 2) for x in runs] if runs else None,
        }
    if pg_reason:
        variants["d"]["reason"] = pg_reason
    # Ratios per round (same round, adjacent in time), then their median.
    ratios: dict[str, float | None] = {}
    for key in ("c", "d", "a", "floor"):
        if key in rates and "b" in rates:
            per_round = [x / y for x, y in zip(rates[key], rates["b"], strict=True)]
            ratios[f"{key}/b"] = round(statistics.median(per_round), 3)
        else:
            ratios[f"{key}/b"] = None
    return {
        "variants": variants,
        "ratios": ratios,
        "goal": {"c/b >= 1.0": (ratios["c/b"] or 0) >= 1.0},
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        "| variant | what | lifecycles/s (median) | ms/lifecycle | rounds (min–max) | × (b) |",
        "|---|---|---:|---:|---|---:|",
    ]
    ratios = result["ratios"]
    for key, v in result["variants"].items():
        cells = [_tag(key), v["label"], "n/a", "n/a", v.get("reason", ""), "n/a"]
        if v["median"] is not None:
            ratio = 1.0 if key == "b" else ratios[f"{key}/b"]
            cells[2:] = [
                f"{v['median']:.1f}",
                f"{1000 / v['median']:.1f}",
                f"{min(v['rounds']):.1f}–{max(v['rounds']):.1f}",
                f"{ratio:.2f}",
            ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _tag(key: str) -> str:
    return f"({key})" if len(key) == 1 else f"({key}, extra)"


def readme_block(result: dict[str, Any]) -> str:
    p, m, x = result["parameters"], result["machine"], result["extra"]
    goal = "met" if result["goal"]["c/b >= 1.0"] else "NOT met"
    inbox_line = ", ".join(f"{k} {v:.2f} ms" for k, v in x["inbox_ms"].items() if v is not None)
    return "\n".join(
        [
            f"Latest run: {result['date']}; {p['rounds']} interleaved rounds of "
            f"{p['raw_lifecycles']} lifecycles for (a), (b) and {p['lifecycles']} for (c), (d); "
            f"Python {m['python']}, {m['cpu_count']} CPUs, {m['platform']}, "
            f"SpiffWorkflow {m['spiffworkflow']}, SQLite {x.get('server_sqlite', '?')}, "
            f"PostgreSQL {x.get('server_postgresql') or 'n/a'}.",
            "",
            table(result),
            "",
            f"Goal (c) ≥ 1.0 × (b): **{goal}** (c/b = {result['ratios']['c/b']}). "
            f"Ratios are medians of per-round ratios.",
            f"`inbox()` (reception clerk, {p['backlog']} cases waiting, own transaction): "
            f"{inbox_line or 'n/a'} per call. "
            f"Stored state per instance: {x['state_bytes']} bytes (ours) vs "
            f"{x['full_json_bytes']} bytes (SpiffWorkflow's full JSON).",
        ]
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    raw = Raw()
    runners: dict[str, Callable[[], None]] = {
        "a": lambda: raw.lifecycle(False),
        "b": lambda: raw.lifecycle(True),
        "floor": raw.lifecycle_roundtrip,
    }
    extra: dict[str, Any] = {"inbox_ms": {"sqlite": None, "postgresql": None}}
    pg_url = os.environ.get(PG_ENV, PG_DEFAULT)
    with sqlite_runtime() as lite, postgres_runtime(pg_url) as (pg, pg_reason):
        runners["c"] = lite.lifecycle
        runtimes = [lite]
        if pg is None:
            print(f"(d) skipped: {pg_reason}", file=sys.stderr)
        else:
            runners["d"] = pg.lifecycle
            runtimes.append(pg)
        rates = _measure_all(runners, runtimes, args, extra)
        if args.profile:
            print(profile(lite, max(5, args.lifecycles // 2)))
            extra["breakdown"] = {}
            for rt in runtimes:
                report, extra["breakdown"][rt.backend] = breakdown(rt, args.lifecycles)
                print(report)
        extra["state_bytes"] = statistics.median(lite.state_bytes)
    extra["full_json_bytes"] = raw.last_json_bytes
    return {"rates": rates, "pg_reason": pg_reason, "extra": extra}


def _measure_all(
    runners: dict[str, Callable[[], None]],
    runtimes: list[Runtime],
    args: argparse.Namespace,
    extra: dict[str, Any],
) -> dict[str, list[float]]:
    counts = {n: args.lifecycles if n in "cd" else args.raw_lifecycles for n in runners}
    for rt in runtimes:
        rt.backlog(args.backlog)
        extra["server_" + rt.backend] = rt.server
        runners[f"inbox_{rt.backend}"] = rt.inbox_call  # timed in the rounds too, as calls/s
        counts[f"inbox_{rt.backend}"] = INBOX_CALLS
    rates = measure(runners, counts, args.rounds)
    for rt in runtimes:
        per_s = rates.pop(f"inbox_{rt.backend}")
        extra["inbox_ms"][rt.backend] = round(1000 / statistics.median(per_s), 3)
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lifecycles", type=int, default=30, help="per round for (c), (d)")
    ap.add_argument("--raw-lifecycles", type=int, help="per round for (a), (b); default 5x")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median reported)")
    ap.add_argument("--backlog", type=int, default=50, help="cases left waiting in each DB")
    ap.add_argument("--profile", action="store_true", help="cProfile variant (c) afterwards")
    ap.add_argument("--no-write", action="store_true", help="do not write results or README")
    args = ap.parse_args(argv)
    args.raw_lifecycles = args.raw_lifecycles or 5 * args.lifecycles
    started = time.perf_counter()
    out = run(args)
    result = {
        "benchmark": "engine",
        "process": PROCESS_ID,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": {
            "lifecycles": args.lifecycles,
            "raw_lifecycles": args.raw_lifecycles,
            "rounds": args.rounds,
            "backlog": args.backlog,
            "user_tasks": USER_TASKS,
            "postgresql_url_env": PG_ENV,
        },
        **summarise(out["rates"], out["pg_reason"]),
        "extra": out["extra"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print()
    print(table(result))
    print(f"\nratios: {result['ratios']}  goal c/b >= 1.0: {result['goal']['c/b >= 1.0']}")
    print(f"inbox(): {result['extra']['inbox_ms']} ms per call; run took {result['seconds']} s")
    if not args.no_write:
        written = publish("engine", result, readme_block(result))
        print(f"wrote {' and '.join(str(p.relative_to(REPO)) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
