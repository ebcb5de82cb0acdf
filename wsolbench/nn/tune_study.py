"""The Optuna side of ``wsolbench tune``: the storage, a study with a fixed budget, claiming trials.

Optuna (imported inside the functions) keeps the study: which configurations were tried, their
values, which trial runs where. wsolbench adds what the protocol needs and Optuna's
``optimize`` loop does not give across processes:

* **An exact budget.** The process that creates a study enqueues one *slot* per trial (an empty
  ``WAITING`` trial) and only then marks the study ready; workers run slots and never create
  trials, so N slots give exactly N trials however many workers share the study. A worker claims a
  slot by moving it from ``WAITING`` to ``RUNNING``, which the storage does atomically (a row lock
  in PostgreSQL; for SQLite, whose reads are not locked, claims are also serialised by a lock
  file beside the database).
* **Resumption.** A running trial records a heartbeat (Optuna's RDB heartbeat) from a thread. A
  trial whose worker died (no heartbeat for two intervals) is failed by the next worker that looks,
  and Optuna's retry callback enqueues it again with the same parameters; the retry keeps the
  original's *slot* number (``failed_trial``), hence its run folder, and resumes from its last
  checkpoint. A worker interrupted by Ctrl-C or SIGTERM requeues its trial at once.
* **Reproducible configurations.** The sampler that draws a slot's parameters is seeded from
  ``(seed, slot)``, so random search draws the same configuration for slot k in any process.

Example:
    >>> storage = open_storage("sqlite:///:memory:", heartbeat=60)          # doctest: +SKIP
    >>> study = create_or_join(storage, "cam", identity={"a": 1}, budget=4)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from pathlib import Path

from wsolbench.errors import WsolbenchError
from wsolbench.optional import import_optional

IDENTITY_ATTR = "wsolbench_identity"
BUDGET_ATTR = "wsolbench_budget"
SAMPLERS = ("random", "tpe")
DEFAULT_HEARTBEAT = 60
SCHEMA_ATTEMPTS = 6


class StudyError(WsolbenchError):
    """The study storage cannot be used, or a study does not match the requested search."""


def require_optuna():
    """Import Optuna (quietly: its info logging and experimental-feature warnings off)."""
    optuna = import_optional("optuna", feature="wsolbench tune", extra="tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and files)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: shown as given minus user info
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.split('@', 1)[1]}" if "@" in rest else url


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL (``None`` for other URLs and in-memory SQLite)."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///:memory:", "sqlite://"):
        return None
    return Path(url[len("sqlite:///"):])


def driver_url(url: str) -> str:
    """``url`` with an explicit PostgreSQL driver: ``postgresql://`` and ``postgres://`` become
    ``postgresql+psycopg://`` (psycopg 3, the ``tune`` extra; SQLAlchemy's default driver differs
    between its versions). Other URLs are returned as they are."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _engine_kwargs(url: str) -> dict:
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        return {"connect_args": {"timeout": 120}}   # seconds a writer waits for another process's lock
    if scheme == "postgresql+psycopg":   # the PostgreSQL driver of the tune extra
        import_optional("psycopg", feature=f"the PostgreSQL storage {mask_url(url)}", extra="tune",
                        package="psycopg[binary]")
    if scheme.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def open_storage(url: str, *, heartbeat: int = DEFAULT_HEARTBEAT):
    """An Optuna RDB storage at ``url`` (``sqlite:///...``, ``postgresql://...``, ``mysql://...``) with
    heartbeats every ``heartbeat`` seconds and retry of trials whose worker died.

    Raises:
        StudyError: the URL is not a database URL, or the database cannot be reached (one line).
    """
    optuna = require_optuna()
    if "://" not in url:
        raise StudyError(f"--storage {url!r} is not a database URL; give e.g. sqlite:///runs/study.db or "
                         "postgresql://USER:PASSWORD@HOST:5432/DATABASE")
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        raise StudyError(f"storage {url}: the folder {path.parent} does not exist; create it or name another file")
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    given, url = url, driver_url(url)
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with claim_lock(url):   # SQLite: one process at a time creates the tables
                return RDBStorage(url, engine_kwargs=_engine_kwargs(url), heartbeat_interval=int(heartbeat),
                                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback())
        except WsolbenchError:
            raise
        except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of every kind become one line
            if _racing_schema(e) and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))   # another worker is creating the tables right now
                continue
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StudyError(f"cannot open the study storage {mask_url(given)}: {reason} (check the URL, that the "
                             "server runs and accepts this user, or use the default SQLite file)") from None


def _racing_schema(error: Exception) -> bool:
    """Whether an error is a concurrent creation of Optuna's tables (retrying then finds them made)."""
    name = type(error).__name__
    return name in ("IntegrityError", "ProgrammingError") or "already exists" in str(error)


@contextlib.contextmanager
def file_lock(path):
    """An exclusive lock on ``path`` (created if absent) between processes on this machine (or a shared
    file system that supports ``flock``); released when the block ends or the process dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def claim_lock(url: str):
    """Serialise trial claims of SQLite studies across processes (a lock file beside the database);
    a no-op for servers, whose row locks already do it."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    with file_lock(path.parent / f".{path.name}.lock"):
        yield


def study_names(storage) -> list[str]:
    return sorted(s.study_name for s in storage.get_all_studies())


def load_existing(storage, name: str, url: str):
    """The study ``name``; a :class:`StudyError` listing the studies there if it does not exist."""
    optuna = require_optuna()
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = study_names(storage)
        raise StudyError(f"no study {name!r} in {mask_url(url)}; studies there: {', '.join(names) or 'none'} "
                         "(run wsolbench tune without --status to start it)") from None


def _add_slots(study, count: int) -> None:
    for _ in range(count):
        study.enqueue_trial({}, skip_if_exists=False)


def _wait_for_budget(study, timeout: float, poll: float = 0.5) -> int:
    deadline = time.monotonic() + timeout
    while True:
        budget = study.user_attrs.get(BUDGET_ATTR)
        if budget is not None:
            return int(budget)
        if time.monotonic() > deadline:
            raise StudyError(f"study {study.study_name!r} exists but was never set up (the process that created "
                             "it stopped before enqueuing its trials); delete it or use another --study-name")
        time.sleep(poll)


def _differences(stored: dict, wanted: dict) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [k for k in keys if stored.get(k) != wanted.get(k)]


def create_or_join(storage, name: str, *, identity: dict, budget: int, url: str = "", timeout: float = 120.0):
    """Create study ``name`` with ``budget`` slots, or join the existing one.

    Joining checks that the study was created for the same search (``identity``: method, space,
    recipe, splits, metric, sampler, seed, data); a larger ``budget`` adds slots.

    Raises:
        StudyError: the study exists with another identity, or a smaller budget is asked for.
    """
    optuna = require_optuna()
    from optuna.study import StudyDirection

    try:
        storage.create_new_study([StudyDirection.MAXIMIZE], name)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    study = optuna.load_study(study_name=name, storage=storage)
    if created:
        study.set_user_attr(IDENTITY_ATTR, identity)
        _add_slots(study, budget)
        study.set_user_attr(BUDGET_ATTR, budget)  # last: the study is ready
        return study
    stored_budget = _wait_for_budget(study, timeout)
    stored = study.user_attrs.get(IDENTITY_ATTR) or {}
    diff = _differences(stored, identity)
    if diff:
        raise StudyError(f"study {name!r} in {mask_url(url)} was created for another search ({', '.join(diff)} "
                         "differ); start a new study with --study-name NEW (or another --out), or rerun with the "
                         "study's own settings (wsolbench tune --status shows them)")
    if budget < stored_budget:
        raise StudyError(f"study {name!r} has a budget of {stored_budget} trials; pass --trials {stored_budget} "
                         f"(or more, to extend it), not {budget}")
    if budget > stored_budget:
        _add_slots(study, budget - stored_budget)
        study.set_user_attr(BUDGET_ATTR, budget)
    return study


def make_sampler(kind: str, seed: int, slot: int):
    """The sampler that draws slot ``slot``'s parameters, seeded from ``(seed, slot)``."""
    import hashlib

    optuna = require_optuna()
    # a hash, not seed + slot: numpy's first draws of neighbouring seeds are close to each other
    derived = int.from_bytes(hashlib.sha256(f"wsolbench-tune:{int(seed)}:{int(slot)}".encode()).digest()[:4], "little")
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=derived)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=derived, constant_liar=True)
    raise StudyError(f"unknown sampler {kind!r}; use one of {', '.join(SAMPLERS)}")


def slot_of(frozen) -> int:
    """The slot a trial fills: its own number, or the number of the trial it retries."""
    return int(frozen.system_attrs.get("failed_trial", frozen.number))


def fail_stale(study) -> None:
    """Fail trials whose worker stopped sending heartbeats (each is requeued by the retry callback)."""
    optuna = require_optuna()
    optuna.storages.fail_stale_trials(study)


def claim_next(study, storage, url: str) -> int | None:
    """Move one ``WAITING`` trial to ``RUNNING`` for this process; its trial id, or ``None`` if none is left."""
    optuna = require_optuna()
    from optuna.trial import TrialState

    with claim_lock(url):
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = frozen._trial_id  # Optuna's storage key of the trial (the storage API is by id)
            try:
                # the heartbeat first: a RUNNING trial without one would never be found stale
                storage.record_heartbeat(trial_id)
                if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return None


def requeue(study, storage, trial_id: int) -> None:
    """Fail a trial this process was running and enqueue its retry (same parameters, same slot)."""
    optuna = require_optuna()
    from optuna.trial import TrialState

    try:
        if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            requeue_failed(study, storage, trial_id)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


def requeue_failed(study, storage, trial_id: int) -> None:
    """Enqueue a retry of a failed trial (same parameters, same slot)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    RetryHeartbeatStaleTrialCallback()(study, storage.get_trial(trial_id))


class Heartbeat:
    """A thread recording a trial's heartbeat every ``interval`` seconds while the block runs."""

    def __init__(self, storage, trial_id: int, interval: int):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{trial_id}")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a missed beat is retried at the next interval
                self.storage.record_heartbeat(self.trial_id)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def worker_name() -> str:
    """``host:pid`` of this process (stored with each trial it runs)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
