"""The mutation-score gate (``make mutation``; docs/testing.md).

For each module that guards patients, every mutant of ``ast_mutants`` is applied to the running
code and the tests that cover its line are run against it; a mutant that no test notices
"survives". Survivors that cannot change behaviour are listed, each with its reason, in
``equivalent.txt`` next to this file; every other survivor fails the gate, as does a score under
the module's threshold.

How it stays fast: one pytest session per module. It runs the module's tests once, recording with
a line tracer which lines of the module each test runs, and keeps the session's fixtures (the
migrated database) alive. Then, per mutant, it forks: the child swaps the mutated function's code
object into the live function (or re-runs the mutated top-level assignment, and those after it
that read what it changed), runs only the covering tests, fastest first, and stops at the first
failure. Nothing is written to the working tree.

Run it as a script (``python devtools/mutation/run.py [module ...]``; ``--list`` prints the
mutants without running them), not as ``devtools.mutation``: importing the ``devtools`` package
builds the app before a mutant could be applied.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import ast_mutants  # noqa: E402  (a sibling file, found through the line above)

EQUIVALENT_FILE = HERE / "equivalent.txt"
RESULTS = ROOT / "instance" / "mutation"


@dataclass(frozen=True)
class Target:
    tests: tuple[str, ...]
    required: float  # per cent of behaviour-changing mutants that must be killed
    # "postgresql": the module has lines only PostgreSQL runs, so its tests run against a
    # PostgreSQL database (DATABASE_URL if it names one, else a temporary one on MUTATION_POSTGRES)
    database: str | None = None


# Where a module that needs PostgreSQL gets its temporary database when DATABASE_URL names none.
MUTATION_POSTGRES = os.environ.get("MUTATION_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


# The chain's own tests of tests/audit/ (its pages' tests also record events, but take minutes and
# check what the pages show, not the chain).
AUDIT_CHAIN_TESTS = (
    "test_events_are_hash_chained_per_organization",
    "test_events_are_chained_at_commit_in_the_order_they_were_recorded",
    "test_reading_the_trail_in_the_same_transaction_sees_events_not_yet_committed",
    "test_events_of_a_rolled_back_transaction_are_never_written",
    "test_audit_verify_passes_on_a_fresh_trail",
    "test_audit_verify_names_an_event_altered_in_the_database",
    "test_audit_verify_notices_an_altered_event_whose_hash_was_recomputed",
    "test_deleting_an_event_from_the_middle_breaks_verification",
    "test_verify_chains_can_check_one_organization",
)
AUDIT_CHECKPOINT_TESTS = (
    "test_from_a_checkpoint_only_the_events_after_it_are_read",
    "test_events_are_read_in_batches_in_sequence_order",
    "test_a_tampered_event_after_the_checkpoint_is_found",
    "test_a_checkpoint_vouches_for_the_events_before_it_only_as_they_were",
    "test_the_checkpoints_own_event_is_checked_again",
    "test_a_checkpoint_needs_its_chain",
    "test_audit_verify_since_checkpoint_reads_only_what_followed",
)

# The modules that guard patients, and the tests that guard them. Add the invoice numbering and
# the actigraphy metrics here when their killing tests exist.
TARGETS: dict[str, Target] = {
    "clinic_app/core/permissions.py": Target(
        ("tests/core/test_permission_table.py", "tests/core/test_access_declarations.py"), 100.0
    ),
    "clinic_app/core/access.py": Target(("tests/core/test_access_declarations.py", "tests/core/test_access.py"), 100.0),
    "clinic_app/figures/rules.py": Target(
        ("tests/figures/test_rules.py", "tests/figures/test_rule_boundaries.py"), 98.0
    ),
    "clinic_app/core/crypto.py": Target(("tests/core/test_crypto.py", "tests/core/test_crypto_edges.py"), 98.0),
    "clinic_app/core/audit.py": Target(
        (
            "tests/core/test_audit_edges.py",
            *(f"tests/audit/test_audit_trail.py::{name}" for name in AUDIT_CHAIN_TESTS),
            *(f"tests/audit/test_verification.py::{name}" for name in AUDIT_CHECKPOINT_TESTS),
            # twelve requests appending to one chain at once (the SQLite write lock taken first)
            "tests/concurrency/test_races.py::test_concurrent_audited_requests_keep_one_unbroken_chain",
        ),
        98.0,
        # the head's hash moves in the events' INSERT there (one round trip): SQLite never runs it
        database="postgresql",
    ),
}


def equivalent_mutants() -> dict[str, str]:
    """``module | operator | line text`` -> why it cannot change behaviour."""
    found = {}
    for line in EQUIVALENT_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, operator, text, reason = (part.strip() for part in line.split(" | ", 3))
        found[f"{path} | {operator} | {text}"] = reason
    return found


class _KeepSession:
    """A stand-in "next test" that shares only the session with every test: tearing down to it
    ends each test's function and module fixtures and keeps the session's (the database)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def listchain(self) -> list[Any]:
        return [self.session]


def _tracer(filename: str, hits: set[int]) -> Any:
    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            hits.add(frame.f_lineno)
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == filename:
            hits.add(frame.f_lineno)
            return local
        return None

    return calls


def _find_code(code: Any, qualname: str) -> Any:
    for const in code.co_consts:
        if hasattr(const, "co_qualname"):
            if const.co_qualname == qualname:
                return const
            found = _find_code(const, qualname)
            if found is not None:
                return found
    return None


def _live_function(module: Any, qualname: str) -> Any:
    parts = qualname.split(".")
    holder = module.__dict__[parts[0]]
    for part in parts[1:]:
        holder = holder.__dict__[part]
    if isinstance(holder, staticmethod | classmethod):
        holder = holder.__func__
    if isinstance(holder, property):
        holder = holder.fget
    chain = [holder]
    while not (hasattr(chain[-1], "__code__") and chain[-1].__code__.co_qualname == qualname):
        chain.append(chain[-1].__wrapped__)
    for wrapper in chain:  # a cache in front of the function would answer from before the mutant
        if hasattr(wrapper, "cache_clear"):
            wrapper.cache_clear()
    return chain[-1]


def _clear_caches(module: Any) -> None:
    """Empty every functools cache of ``module``'s own functions."""
    for value in list(vars(module).values()):
        # type(), not isinstance() or hasattr(): a module's context proxies (flask.g, request)
        # would look for an application context
        if type(value) is functools._lru_cache_wrapper and value.__module__ == module.__name__:
            value.cache_clear()


def _assigned(statement: ast.stmt) -> set[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]  # type: ignore[attr-defined]
    return {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}


def _reads(statement: ast.stmt, names: set[str]) -> bool:
    value = statement.value  # type: ignore[attr-defined]
    return any(isinstance(node, ast.Name) and node.id in names for node in ast.walk(value))


def activate(module: Any, source: str, mutant: ast_mutants.Mutant) -> None:
    """Make the running ``module`` behave as its mutated source would."""
    tree = ast_mutants.apply(source, mutant)
    if mutant.function is not None:
        code = _find_code(compile(tree, module.__file__, "exec"), mutant.function)
        _live_function(module, mutant.function).__code__ = code
        return
    changed: set[str] = set()
    before: dict[str, Any] = {}
    for index, statement in enumerate(tree.body[mutant.top_index :], start=mutant.top_index):
        if not isinstance(statement, ast.Assign | ast.AnnAssign) or statement.value is None:
            continue
        if index != mutant.top_index and not _reads(statement, changed):
            continue
        names = _assigned(statement)
        for name in names:
            before.setdefault(name, module.__dict__.get(name))
        exec(compile(ast.Module(body=[statement], type_ignores=[]), module.__file__, "exec"), module.__dict__)  # noqa: S102
        changed |= names
    for name in changed:  # and where another module imported the old value by name
        for other in list(sys.modules.values()):
            namespace = getattr(other, "__dict__", None)
            if other is not module and isinstance(namespace, dict) and namespace.get(name) is before[name]:
                namespace[name] = module.__dict__[name]


class Gate:
    """A pytest plugin: replaces the test loop by the baseline run and the mutants' runs."""

    def __init__(self, path: str, mutants: list[ast_mutants.Mutant]) -> None:
        self.path = path
        self.module_name = path.removesuffix(".py").replace("/", ".")
        self.source = (ROOT / path).read_text()
        self.mutants = mutants
        self.results: list[dict[str, Any]] = []
        self.baseline_failures: list[str] = []

    def _say(self, session: Any, text: str) -> None:
        capture = session.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(text, flush=True)

    def pytest_runtestloop(self, session: Any) -> bool:
        from _pytest.runner import runtestprotocol

        keep = _KeepSession(session)
        filename = str((ROOT / self.path).resolve())
        lines: dict[Any, set[int]] = {}
        took: dict[Any, float] = {}
        module = importlib.import_module(self.module_name)
        for item in session.items:
            # As in a fresh process: a function cached by an earlier test (built once per process)
            # runs again, so every test that reaches it is counted as covering its lines.
            _clear_caches(module)
            hits: set[int] = set()
            tracer = _tracer(filename, hits)
            sys.settrace(tracer)
            threading.settrace(tracer)
            started = time.perf_counter()
            try:
                reports = runtestprotocol(item, log=False, nextitem=keep)
            finally:
                sys.settrace(None)
                threading.settrace(None)  # type: ignore[arg-type]
            took[item] = time.perf_counter() - started
            lines[item] = hits
            if any(report.failed for report in reports):
                self.baseline_failures.append(item.nodeid)
        if self.baseline_failures:
            self._say(session, "the tests fail without any mutant: " + ", ".join(self.baseline_failures))
            return True
        self._say(session, f"{self.path}: {len(session.items)} tests, {len(self.mutants)} mutants")
        everyone = sorted(session.items, key=took.__getitem__)
        for number, mutant in enumerate(self.mutants, start=1):
            if mutant.function is None:
                covering = everyone
            else:
                span = set(range(mutant.line, mutant.end_line + 1)) | {mutant.statement_line}
                covering = [item for item in everyone if lines[item] & span]
            outcome, killer = self._run(mutant, covering, keep, sum(took[item] for item in covering))
            self.results.append(
                {"key": mutant.key, "where": mutant.describe(), "outcome": outcome, "killed_by": killer}
            )
            if number % 25 == 0:
                self._say(session, f"  {number}/{len(self.mutants)}")
        return True

    def _run(
        self, mutant: ast_mutants.Mutant, covering: list[Any], keep: Any, baseline: float
    ) -> tuple[str, str | None]:
        from _pytest.runner import runtestprotocol

        if not covering:
            return "not covered", None
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: apply the mutant, run the covering tests, say which one failed
            os.close(reader)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                activate(sys.modules[self.module_name], self.source, mutant)
            except Exception as error:  # the mutated module would not even load
                os.write(writer, f"(does not load: {type(error).__name__})".encode())
                os._exit(1)
            for item in covering:
                reports = runtestprotocol(item, log=False, nextitem=keep)
                if any(report.failed for report in reports):
                    os.write(writer, item.nodeid.encode())
                    os._exit(1)
            os._exit(0)
        os.close(writer)
        deadline = time.monotonic() + 3 * baseline + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(reader)
                return "killed (time-out)", None
            time.sleep(0.01)
        with os.fdopen(reader, "rb") as said:
            killer = said.read().decode() or None
        if os.waitstatus_to_exitcode(status) == 0:
            return "survived", None
        return "killed", killer


def run_module(path: str) -> int:
    """One module in this process (called through a child process per module)."""
    import pytest

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    source = (ROOT / path).read_text()
    gate = Gate(path, ast_mutants.find_mutants(path, source))
    started = time.monotonic()
    pytest.main([*TARGETS[path].tests, "-p", "no:cacheprovider", "-q", "--no-header"], plugins=[gate])
    if gate.baseline_failures or not gate.results:
        return 2
    equivalent = equivalent_mutants()
    for result in gate.results:
        if result["outcome"] in ("survived", "not covered") and result["key"] in equivalent:
            result["outcome"] = "equivalent"
            result["reason"] = equivalent[result["key"]]
    counted = [r for r in gate.results if r["outcome"] != "equivalent"]
    killed = [r for r in counted if r["outcome"].startswith("killed")]
    score = 100.0 * len(killed) / len(counted) if counted else 100.0
    summary = {
        "module": path,
        "mutants": len(gate.results),
        "equivalent": len(gate.results) - len(counted),
        "killed": len(killed),
        "survived": len(counted) - len(killed),
        "score": round(score, 1),
        "required": TARGETS[path].required,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = path.removesuffix(".py").replace("/", ".")
    (RESULTS / f"{name}.json").write_text(json.dumps({"summary": summary, "results": gate.results}, indent=1))
    print(json.dumps(summary))
    for result in counted:
        if not result["outcome"].startswith("killed"):
            print(f"  {result['outcome'].upper()}: {result['where']}")
    return 0 if score >= TARGETS[path].required else 1


@contextlib.contextmanager
def _database_for(target: Target) -> Iterator[dict[str, str] | None]:
    """The environment a module's tests run in: as given, or with a temporary PostgreSQL database
    (created here, dropped afterwards) for a module that needs one. None when none can be made."""
    environment = dict(os.environ)
    if target.database != "postgresql" or environment.get("DATABASE_URL", "").startswith("postgresql"):
        yield environment
        return
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    server = make_url(MUTATION_POSTGRES)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"clinic_mutation_{os.getpid()}"
    try:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as error:
        print(f"this module's tests need PostgreSQL (set DATABASE_URL or MUTATION_POSTGRES): {error}")
        yield None
        return
    environment["DATABASE_URL"] = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield environment
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--one"]:
        return run_module(arguments[1])
    if arguments[:1] == ["--list"]:
        for path in arguments[1:] or TARGETS:
            for mutant in ast_mutants.find_mutants(path, (ROOT / path).read_text()):
                print(mutant.describe())
        return 0
    unknown = [path for path in arguments if path not in TARGETS]
    if unknown:
        print(f"not a gated module: {unknown}; the modules are: {', '.join(TARGETS)}")
        return 2
    failed = []
    for path in arguments or list(TARGETS):
        # A fresh process per module: each starts from unmutated, freshly imported code.
        with _database_for(TARGETS[path]) as environment:
            if environment is None:
                failed.append(path)
                continue
            command = [sys.executable, __file__, "--one", path]
            answer = subprocess.run(command, cwd=ROOT, env=environment, check=False)  # noqa: S603
        if answer.returncode != 0:
            failed.append(path)
    print("mutation gate: " + ("FAILED for " + ", ".join(failed) if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
