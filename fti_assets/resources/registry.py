"""The model registry and experiment tracker: MLflow with a SQLite backend under FTI_HOME.

MLflow is imported on first use, not at module import: it costs seconds and every run
re-imports the code location.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from fti_assets.serving.model_store import REGISTERED_MODEL

if TYPE_CHECKING:
    from fti_assets.domain.encoding import FeatureSpec

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
#: MLflow's UI opens in its GenAI view unless told otherwise: the experiment is marked as model
#: training (no "what kind of experiment" prompt), and every link the project writes asks for
#: the model-training view (the sidebar switch, which the browser then remembers).
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_TAGS = {EXPERIMENT_KIND: "custom_model_development"}
TRAINING_VIEW = "workflowType=machine_learning"
_QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "DO_NOT_TRACK": "true",
}


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version as LightGBM sees it, with its feature spec."""

    version: int
    booster: Any
    spec: dict
    model_file: Path

    @property
    def feature_spec(self) -> FeatureSpec:
        """The spec as a ``FeatureSpec``: ``feature_spec.predict(booster, frame)`` scores a frame."""
        from fti_assets.domain.encoding import FeatureSpec

        return FeatureSpec.from_dict(self.spec)


class ModelRegistry(dg.ConfigurableResource):
    """MLflow tracking and registry: one experiment, one registered model, aliases for roles."""

    tracking_uri: str
    artifact_root: str
    history_url: str
    """SQLAlchemy URL of the append-only model history (``fti_assets.deployment.history``)."""
    experiment: str = "flight-delay"
    model_name: str = REGISTERED_MODEL
    ui_url: str = ""
    """MLflow's UI, for links from Dagster metadata (empty: no links)."""

    def run_url(self, run_id: str, tab: str = "") -> str | None:
        """The MLflow UI page of a run (``tab`` ``artifacts/evaluation`` opens the evaluation
        plots), in the UI's model-training view."""
        if not self.ui_url:
            return None
        experiment_id = self.client().get_run(run_id).info.experiment_id
        page = f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}" + (f"/{tab}" if tab else "")
        return f"{page}?{TRAINING_VIEW}"

    def version_url(self, version: int) -> str | None:
        """The MLflow UI page of a registered model version, in the UI's model-training view."""
        if not self.ui_url:
            return None
        return f"{self.ui_url}/#/models/{self.model_name}/versions/{version}?{TRAINING_VIEW}"

    def _mlflow(self):
        for key, value in _QUIET.items():
            os.environ.setdefault(key, value)
        import logging

        import mlflow

        # Environment probes (pip, uv) log on every model save; they are not the user's concern.
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(self.tracking_uri)
        return mlflow

    def client(self):
        """An MlflowClient on a store whose tables and experiment exist."""
        mlflow = self._mlflow()
        from mlflow.tracking import MlflowClient

        if self.tracking_uri.startswith("sqlite:///"):
            # Creating the schema is not safe under concurrency: the first process does it alone. The
            # client is made under the lock too: making it opens the store, which creates the schema.
            database = Path(self.tracking_uri.removeprefix("sqlite:///"))
            database.parent.mkdir(parents=True, exist_ok=True)
            with open(database.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
                self._ensure_experiment(mlflow, client)
        else:
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            self._ensure_experiment(mlflow, client)
        return client

    def _ensure_experiment(self, mlflow, client) -> str:
        found = client.get_experiment_by_name(self.experiment)
        if found is None:
            return client.create_experiment(
                self.experiment, artifact_location=self.artifact_root, tags=EXPERIMENT_TAGS
            )
        if (
            found.tags.get(EXPERIMENT_KIND) != EXPERIMENT_TAGS[EXPERIMENT_KIND]
        ):  # created before the tag existed
            client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, EXPERIMENT_TAGS[EXPERIMENT_KIND])
        return found.experiment_id

    @contextmanager
    def run(
        self, run_name: str | None = None, run_id: str | None = None, tags: dict | None = None
    ) -> Iterator[Any]:
        """An MLflow run that ends FINISHED, or FAILED if the block raises."""
        client = self.client()
        mlflow = self._mlflow()
        experiment_id = client.get_experiment_by_name(self.experiment).experiment_id
        with mlflow.start_run(
            run_id=run_id, run_name=run_name, experiment_id=None if run_id else experiment_id, tags=tags
        ) as active:
            yield active

    def version_by_alias(self, alias: str):
        """The model version holding ``alias``, or None."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            return client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            if exc.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
                return None
            raise

    def load(self, version: int) -> LoadedModel:
        """Download a version's files and open its LightGBM text model (never a pickle)."""
        import lightgbm as lgb
        import yaml

        mlflow = self._mlflow()
        target = Path(tempfile.mkdtemp(prefix=f"model-{version}-"))
        folder = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.model_name}/{version}", dst_path=str(target)
            )
        )
        meta = yaml.safe_load((folder / "MLmodel").read_text())
        model_file = folder / meta["flavors"]["lightgbm"]["data"]
        return LoadedModel(
            int(version),
            lgb.Booster(model_file=str(model_file)),
            meta["metadata"]["feature_spec"],
            model_file,
        )

    def versions(self) -> list:
        """Every version, newest first, with aliases filled in."""
        client = self.client()
        aliases: dict[str, list[str]] = {}
        try:
            for alias, version in client.get_registered_model(self.model_name).aliases.items():
                aliases.setdefault(str(version), []).append(alias)
        except Exception:  # no registered model yet
            return []
        found = client.search_model_versions(f"name='{self.model_name}'", order_by=["version_number DESC"])
        for mv in found:
            mv.aliases = aliases.get(str(mv.version), [])
        return found

    def version_with_tag(self, key: str, value: str) -> int | None:
        """The newest version tagged ``key`` = ``value`` (None if none is)."""
        if "'" in value or "'" in key:
            raise ValueError(f"a tag filter cannot hold a quote: {key}={value}")
        found = self.client().search_model_versions(
            f"name='{self.model_name}' and tags.{key} = '{value}'", order_by=["version_number DESC"]
        )
        return int(found[0].version) if found else None

    def describe(self, version: int, model_text: str, version_text: str) -> None:
        """Set the registered model's and one version's descriptions (shown in MLflow's UI)."""
        client = self.client()
        client.update_registered_model(self.model_name, description=model_text)
        client.update_model_version(self.model_name, str(version), description=version_text)

    def tag_version(self, version: int, tags: dict[str, Any]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(
                self.model_name, str(version), key, value if isinstance(value, str) else json.dumps(value)
            )

    # Promotion: the champion alias moves; `previous` and the history table make it reversible.

    def _history(self):
        from fti_assets.deployment.history import ModelHistory

        return ModelHistory(self.history_url)

    def history(self) -> list[dict]:
        """Promotions, rollbacks and refusals, oldest first (errors propagate)."""
        return self._history().events(self.model_name)

    def _record(
        self,
        action: str,
        version: int,
        at: str,
        by: str,
        reason: str,
        from_version: int | None,
        report: dict | None,
        policy_hash: str | None = None,
    ) -> list[int]:
        """Append an event to the history and return the resulting stack of champions."""
        from fti_assets.deployment.history import champion_stack

        history = self._history()
        history.append(self.model_name, action, version, at, by, reason, from_version, report, policy_hash)
        return champion_stack(history.events(self.model_name))

    def _point(self, stack: list[int]) -> None:
        client = self.client()
        client.set_registered_model_alias(self.model_name, CHAMPION, str(stack[-1]))
        if len(stack) > 1:
            client.set_registered_model_alias(self.model_name, PREVIOUS, str(stack[-2]))
        elif self.version_by_alias(PREVIOUS) is not None:
            client.delete_registered_model_alias(self.model_name, PREVIOUS)

    def promote(
        self,
        version: int,
        reason: str,
        at: str,
        by: str,
        report: dict | None = None,
        policy_hash: str | None = None,
    ) -> int | None:
        """Make ``version`` the champion under the policy of ``policy_hash``; return the version it replaced."""
        current = self.version_by_alias(CHAMPION)
        replaced = int(current.version) if current else None
        stack = self._record("promote", int(version), at, by, reason, replaced, report, policy_hash)
        self._point(stack)
        self.tag_version(
            version,
            {
                "promoted_at": at,
                "promotion_reason": reason,
                "promoted_by": by,
                "replaced_version": str(replaced),
            },
        )
        return replaced

    def rollback(
        self, reason: str, at: str, by: str, report: dict | None = None, policy_hash: str | None = None
    ) -> tuple[int, int]:
        """Move the champion back to the version it replaced; return (from, to)."""
        current = self.version_by_alias(CHAMPION)
        previous = self.version_by_alias(PREVIOUS)
        if current is None or previous is None:
            raise ValueError("there is no previous champion to roll back to")
        stack = self._record(
            "rollback", int(previous.version), at, by, reason, int(current.version), report, policy_hash
        )
        self._point(stack)
        self.tag_version(int(current.version), {"rolled_back_at": at, "rollback_reason": reason})
        return int(current.version), int(previous.version)

    def refuse(
        self,
        version: int,
        reason: str,
        at: str,
        by: str,
        report: dict | None = None,
        policy_hash: str | None = None,
    ) -> None:
        """Record that ``version`` was refused; its tags mark it as no longer a candidate."""
        current = self.version_by_alias(CHAMPION)
        self._record(
            "refuse",
            int(version),
            at,
            by,
            reason,
            int(current.version) if current else None,
            report,
            policy_hash,
        )
        self.tag_version(version, {"candidate": "no", "refused_at": at, "refused_reason": reason[:4000]})
