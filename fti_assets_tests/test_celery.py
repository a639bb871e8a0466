"""Steps on Celery workers (``FTI_EXECUTOR=celery``) on the real RabbitMQ and PostgreSQL.

Each worker is an ``fti worker`` process in a process group, a working directory and an
environment of its own, as on another host: it shares with the run only the PostgreSQL
instance, MLflow, Redis and ``FTI_HOME``. Each test has its own databases, Redis prefix and
RabbitMQ virtual host.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from fti_assets_tests.conftest import FEATURES, RAW, TRAINING_CONFIG
from fti_assets_tests.servers import (
    broker_url,
    new_database,
    new_redis_prefix,
    new_vhost,
    production_env,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SPAN = ("2013-01-01", "2013-01-14")  # the suite's two-week slice (conftest.feature_home)
#: The training dataset in pieces of three days, so its pieces fan out over the workers.
PIECES_CONFIG = {
    "ops": {
        "training_dataset": {
            "config": {**TRAINING_CONFIG["ops"]["training_dataset"]["config"], "piece_days": 3}
        }
    }
}
TABLES = [*RAW, *FEATURES, "training_dataset"]
EXECUTING = "[CeleryExecutor] Executing steps"
PLANNED = "ASSET_MATERIALIZATION_PLANNED"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    @property
    def hostname(self) -> str:
        return f"{self.name}@{socket.gethostname()}"

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)  # a warm shutdown: the current step ends first
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()


@dataclass
class Cluster:
    """The production profile of one FTI_HOME with its broker; the runs go through ``run``."""

    folder: Path
    env: dict[str, str]
    workers: list[Worker] = field(default_factory=list)

    def worker_env(self, **changes: str) -> dict[str, str]:
        """A worker's whole environment: the deployment's settings and no more (no DAGSTER_HOME:
        the instance comes with each step)."""
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "HOME", "TMPDIR")}
        own = {k: v for k, v in self.env.items() if k != "DAGSTER_HOME"}
        return {**keep, **own, "DAGSTER_DISABLE_TELEMETRY": "1", "BENTOML_DO_NOT_TRACK": "true", **changes}

    def start_worker(self, name: str, **changes: str) -> Worker:
        """``fti worker`` in its own folder and session, returned once it takes tasks."""
        home = self.folder / name
        home.mkdir(parents=True, exist_ok=True)
        log = home / "worker.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [str(BIN / "fti"), "worker", "--name", name],
                cwd=home,
                env=self.worker_env(**changes),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, process, log)
        self.workers.append(worker)
        deadline = time.monotonic() + 180
        while f"{worker.hostname} ready." not in log.read_text():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"worker {name} did not come up: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        return worker

    def launch(self, args: list[str], log: str) -> subprocess.Popen:
        """A run from the command line, in its own process (the run's orchestrator)."""
        out = open(self.folder / log, "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [str(BIN / "dagster"), *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def run(self, args: list[str], log: str) -> subprocess.CompletedProcess:
        process = self.launch(args, log)
        process.wait(timeout=900)
        return subprocess.CompletedProcess(args, process.returncode, (self.folder / log).read_text())

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])


def feature_run(span: tuple[str, str] = SPAN) -> list[str]:
    tags = {"dagster/asset_partition_range_start": span[0], "dagster/asset_partition_range_end": span[1]}
    return [
        "job",
        "execute",
        "-m",
        "fti_assets.definitions",
        "-j",
        "feature_pipeline",
        "--tags",
        json.dumps(tags),
    ]


def dataset_run() -> list[str]:
    return [
        "asset",
        "materialize",
        "-m",
        "fti_assets.definitions",
        "--select",
        "training_dataset",
        "--config-json",
        json.dumps(PIECES_CONFIG),
    ]


@contextmanager
def cluster(folder: Path, monkeypatch: pytest.MonkeyPatch, workers: int = 2) -> Iterator[Cluster]:
    """Databases, a Redis prefix and a virtual host of their own, and ``workers`` workers."""
    from fti_assets.platform.instance import write_instance_file

    with ExitStack() as stack:
        dagster_db, mlflow_db = stack.enter_context(new_database()), stack.enter_context(new_database())
        prefix, vhost = stack.enter_context(new_redis_prefix()), stack.enter_context(new_vhost())
        env = {
            **production_env(folder / "fti", dagster_db, mlflow_db, prefix),
            "FTI_EXECUTOR": "celery",
            "FTI_CELERY_BROKER": broker_url(vhost),
        }
        write_instance_file(Path(env["DAGSTER_HOME"]), production=True)
        monkeypatch.setenv("FTI_DAGSTER_POSTGRES_URL", env["FTI_DAGSTER_POSTGRES_URL"])
        built = Cluster(folder, env)
        try:
            for letter in "ab"[:workers]:
                built.start_worker(f"fti-{letter}")
            yield built
        finally:
            for worker in built.workers:
                worker.stop()


def table_hashes(home: Path, tables: list[str] = TABLES) -> dict[str, str]:
    """Each table's content hash: its rows in a canonical order, whatever files hold them."""
    from fti_assets.domain.retrieval import content_hash
    from fti_assets.resources.offline_store import OfflineStore

    store = OfflineStore(home=str(home))
    hashes = {}
    for table in tables:
        frame = store.read(table)
        canonical = frame.select(sorted(frame.columns)).sort(sorted(frame.columns))
        hashes[table] = content_hash(canonical.with_row_index("_row"), "_row")
    return hashes


def step_events(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, str, float]]:
    """(step key, event type, Celery worker or "", timestamp) of a run's step events, in order."""
    out = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        worker = ""
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT and (event.message or "").startswith(
            EXECUTING
        ):
            worker = str(event.event_specific_data.metadata["Celery worker"].value)
        out.append((event.step_key, event.event_type.value, worker, entry.timestamp))
    return out


def only_run(instance: dg.DagsterInstance, job: str | None = None) -> dg.DagsterRun:
    runs = [r for r in instance.get_runs() if job is None or r.job_name == job]
    assert len(runs) == 1, [r.job_name for r in runs]
    return runs[0]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, dict[str, str]]]:
    """The two-week feature backfill and the training dataset, through two workers."""
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        cluster(tmp_path_factory.mktemp("clean"), monkeypatch) as c,
    ):
        features = c.run(feature_run(), "features.log")
        assert features.returncode == 0, features.stdout[-5000:]
        dataset = c.run(dataset_run(), "dataset.log")
        assert dataset.returncode == 0, dataset.stdout[-5000:]
        yield c, table_hashes(Path(c.env["FTI_HOME"]))


def test_a_backfill_and_the_training_dataset_fan_out_over_two_workers(clean_run, feature_home: Path) -> None:
    c, hashes = clean_run
    # The same tables, content hash for content hash, as the in-process run of the same days.
    assert hashes == table_hashes(feature_home)
    instance = c.instance()
    for job in ("feature_pipeline", "__ASSET_JOB"):
        run = only_run(instance, job)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = step_events(instance, run.run_id)
        executed = {(step, worker) for step, kind, worker, _ in events if worker}
        # Every step ran on a worker, and both workers took steps.
        steps = {step for step, kind, _, _ in events if kind == "STEP_SUCCESS"}
        assert {step for step, _ in executed} == steps
        assert {worker for _, worker in executed} == {w.hostname for w in c.workers}, job
    pieces = [
        s for s, kind, _, _ in step_events(instance, run.run_id) if kind == "STEP_SUCCESS" and "piece[" in s
    ]
    assert len(pieces) == 5  # 14 days in pieces of three, each its own task
    instance.dispose()


def test_a_worker_killed_mid_step_hands_the_step_to_the_other(
    clean_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of a worker's whole process tree (a lost host) while it executes a step: the
    broker gives the unacknowledged step to the other worker, the run succeeds, and the stored
    tables equal the clean run's."""
    _, clean = clean_run
    with cluster(tmp_path, monkeypatch) as c:
        victim, survivor = c.workers
        run = c.launch(feature_run(), "features.log")
        instance = c.instance()
        killed = None
        deadline = time.monotonic() + 600
        while killed is None:
            assert run.poll() is None, "the run ended before the victim took a step"
            assert time.monotonic() < deadline
            runs = instance.get_runs()
            events = step_events(instance, runs[0].run_id) if runs else []
            # A step the victim executes: handed to it, started, not finished.
            mine = {s for s, _, worker, _ in events if worker == victim.hostname}
            started = {s for s, kind, _, _ in events if kind == "STEP_START"}
            done = {s for s, kind, _, _ in events if kind in ("STEP_SUCCESS", "STEP_FAILURE")}
            busy = (mine & started) - done
            if not busy:
                time.sleep(0.1)
                continue
            victim.signal(signal.SIGSTOP)  # frozen: what it stored so far is all it will store
            events = step_events(instance, runs[0].run_id)
            done = {s for s, kind, _, _ in events if kind in ("STEP_SUCCESS", "STEP_FAILURE")}
            if busy - done:
                killed = sorted(busy - done)[0]
                victim.signal(signal.SIGKILL)
            else:  # it finished between the two reads: let it go on, and try the next step
                victim.signal(signal.SIGCONT)
        victim.process.wait(timeout=60)
        assert run.wait(timeout=900) == 0, (tmp_path / "features.log").read_text()[-5000:]
        run_id = only_run(instance).run_id
        events = step_events(instance, run_id)
        assert only_run(instance).status == dg.DagsterRunStatus.SUCCESS
        history = [(kind, worker) for step, kind, worker, _ in events if step == killed]
        handed = [worker for kind, worker in history if worker]
        assert handed == [victim.hostname, survivor.hostname], history
        assert [kind for kind, _ in history].count("STEP_START") == 2
        assert [kind for kind, _ in history].count("STEP_SUCCESS") == 1
        instance.dispose()
        feature_tables = [t for t in TABLES if t != "training_dataset"]
        hashes = table_hashes(Path(c.env["FTI_HOME"]), feature_tables)
        assert hashes == {t: clean[t] for t in feature_tables}


def _wait(condition, what: str, processes: list[subprocess.Popen], timeout: float = 600) -> None:
    """Poll ``condition`` until it holds; fail if a process ended first or the deadline passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert all(p.poll() is None for p in processes), f"a run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_the_model_lifecycle_pool_holds_across_two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of flight_delay_bento (pool `model_lifecycle`, one slot) with two idle workers:
    the second run's step is not even sent to a worker until the first one's has finished."""
    from fti_assets.resources.locks import LIFECYCLE_POOL, ChangeLock

    step = "flight_delay_bento"
    args = ["asset", "materialize", "-m", "fti_assets.definitions", "--select", step]
    with cluster(tmp_path, monkeypatch) as c:
        instance = c.instance()
        lock = ChangeLock(folder=str(tmp_path / "locks"), database_url=c.env["FTI_MLFLOW_TRACKING_URI"])
        # The champion lock, held here, keeps the first run's step running (it waits for the lock
        # inside the step, holding the pool's slot) for as long as the test needs.
        with lock.hold("champion", "test"):
            first = c.launch(args, "first.log")
            _wait(lambda: len(instance.get_runs()) == 1, "the first run", [first])
            first_id = instance.get_runs()[0].run_id
            _wait(
                lambda: "STEP_START" in [k for _, k, _, _ in step_events(instance, first_id)],
                "its step",
                [first],
            )
            second = c.launch(args, "second.log")
            _wait(lambda: len(instance.get_runs()) == 2, "the second run", [first, second])
            second_id = next(r.run_id for r in instance.get_runs() if r.run_id != first_id)

            # The second run asked for the pool's slot and was told to wait.
            def pending() -> bool:
                return (
                    second_id
                    in instance.event_log_storage.get_concurrency_info(LIFECYCLE_POOL).pending_run_ids
                )

            _wait(pending, "the second run to wait for the pool", [first, second])
            # Nothing of it was sent to a worker (its planned materialization aside).
            assert [kind for s, kind, _, _ in step_events(instance, second_id) if s == step] == [PLANNED]
        assert first.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()[-5000:]
        assert second.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-5000:]
        finished = next(
            t for s, k, _, t in step_events(instance, first_id) if s == step and k == "STEP_SUCCESS"
        )
        sent = [t for s, k, _, t in step_events(instance, second_id) if s == step and k != PLANNED]
        assert sent and min(sent) >= finished
        workers = {w for run in (first_id, second_id) for _, _, w, _ in step_events(instance, run) if w}
        assert workers <= {w.hostname for w in c.workers} and workers
        instance.dispose()


def test_a_broker_outage_or_a_worker_of_another_deployment_fails_the_run_readably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["asset", "materialize", "-m", "fti_assets.definitions", "--select", "airlines"]
    with cluster(tmp_path, monkeypatch, workers=0) as c:
        # No broker at the address: the run fails at once, saying so, instead of waiting.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        down = Cluster(c.folder, {**c.env, "FTI_CELERY_BROKER": f"pyamqp://guest:guest@127.0.0.1:{closed}//"})
        result = down.run(args, "down.log")
        assert result.returncode != 0
        assert "Encountered error during celery task submission" in result.stdout
        assert "Connection refused" in result.stdout
        # A worker started with another FTI_HOME refuses the step instead of writing elsewhere.
        c.start_worker("fti-odd", FTI_HOME=str(tmp_path / "elsewhere"))
        result = c.run(args, "odd.log")
        assert result.returncode != 0
        assert "has other settings than the run that sent the step: FTI_HOME." in result.stdout
        assert not (tmp_path / "elsewhere" / "store").exists()
        assert not (Path(c.env["FTI_HOME"]) / "store" / "airlines").exists()


def bento_job() -> dg.JobDefinition:
    """flight_delay_bento alone, as a job of the code location under the current environment
    (its executor included): the run below and its re-execution both reconstruct it."""
    from fti_assets.definitions import build_definitions
    from fti_assets.settings import Settings

    job = dg.define_asset_job("bento_job", selection=["flight_delay_bento"])
    merged = dg.Definitions.merge(build_definitions(Settings.from_env()), dg.Definitions(jobs=[job]))
    return merged.resolve_job_def("bento_job")


BENTO_RUN = (
    "import dagster as dg\n"
    "from fti_assets_tests.test_celery import bento_job\n"
    "with dg.DagsterInstance.get() as instance:\n"
    "    raise SystemExit(0 if dg.execute_job(dg.reconstructable(bento_job), instance).success else 1)\n"
)


def test_a_step_whose_workers_die_twice_fails_the_run_and_reexecution_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flight_delay_bento waits inside the step for the champion lock the test holds, so each
    worker is killed mid-step for certain. Two dead workers: the third refuses the step, the run
    fails with that reason, and the re-execution from failure completes on it."""
    from fti_assets.resources.locks import LIFECYCLE_POOL, ChangeLock

    step = "flight_delay_bento"
    with cluster(tmp_path, monkeypatch) as c:
        instance = c.instance()
        lock = ChangeLock(folder=str(tmp_path / "locks"), database_url=c.env["FTI_MLFLOW_TRACKING_URI"])
        with lock.hold("champion", "test"):
            run = c.launch(
                ["asset", "materialize", "-m", "fti_assets.definitions", "--select", step], "run.log"
            )
            _wait(lambda: len(instance.get_runs()) == 1, "the run", [run])
            run_id = instance.get_runs()[0].run_id

            def starts() -> list[str]:
                events = step_events(instance, run_id)
                starts = [k for s, k, _, _ in events if s == step and k == "STEP_START"]
                return [w for s, _, w, _ in events if s == step and w][: len(starts)]

            for attempt in (1, 2):
                _wait(lambda: len(starts()) == attempt, f"start {attempt}", [run])  # noqa: B023
                worker = next(w for w in c.workers if w.hostname == starts()[-1])
                worker.signal(signal.SIGKILL)
                worker.process.wait(timeout=60)
            third = c.start_worker("fti-c")
            assert run.wait(timeout=600) != 0
        output = (tmp_path / "run.log").read_text()
        assert f"step {step} of run {run_id} was started 2 times on workers that died" in output
        # The refused step's pool slot is free again: the re-execution is not kept waiting.
        assert not instance.event_log_storage.get_concurrency_info(LIFECYCLE_POOL).claimed_slots
        for name, value in c.env.items():
            monkeypatch.setenv(name, value)
        result = dg.execute_job(
            dg.reconstructable(bento_job),
            instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
        )
        assert result.success
        executed = [w for s, _, w, _ in step_events(instance, result.run_id) if s == step and w]
        assert executed == [third.hostname]
        instance.dispose()
