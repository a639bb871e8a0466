"""A small materialized window behind a real ``make dev`` stack and ``bentoml serve``, for browser tests."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg

from fti_assets.platform.devstack import Server, servers, wait_until_up
from fti_assets.platform.instance import write_instance_file
from fti_assets_tests.conftest import materialize, settings_for
from fti_assets_tests.service_process import ServiceProcess, free_port

REPO = Path(__file__).resolve().parents[1]
LENIENT = {"floor_auc": 0.5, "floor_max_brier": 0.25, "min_improvement": -1.0, "max_slice_drop": 1.0}
TRAINING_WINDOW = {
    "start": "2013-01-01",
    "end": "2013-01-14",
    "train_end": "2013-01-10",
    "validation_end": "2013-01-12",
}
SCORED_DAYS = (date(2013, 1, 12), date(2013, 1, 14))


#: The second model: trained on the train split's last two days only, judged under the policy
#: file as it stands (no override), so its evaluation shows the configured thresholds.
WEAK_CHALLENGER = {"train_from": "2013-01-09"}


def prepare(feature_home: Path, home: Path):
    """Copy the two-week feature store, then train, promote, package and monitor its last days
    through a persistent Dagster instance under ``home``, so the UI shows these runs: v1 is
    promoted (lenient floors: two weeks cannot meet the policy's), v2 refused under the policy
    file itself."""
    shutil.copytree(feature_home, home)
    settings = replace(
        settings_for(home),
        **{
            name: f"http://127.0.0.1:{free_port()}"
            for name in ("reports_url", "mlflow_ui_url", "dagster_url")
        },
    )
    write_instance_file(settings.dagster_home, production=False)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    train = ["trained_model", "model_evaluation", "model_card", "champion_model", "flight_delay_bento"]
    steps = [
        # The dataset a launch from the UI with TRAINING_WINDOW rebuilds, byte for byte.
        (["training_dataset"], None, None, {"training_dataset": {"config": TRAINING_WINDOW}}),
        (
            [*train, "online_features"],
            None,
            None,
            {
                "model_evaluation": {"config": LENIENT},
                "online_features": {"config": {"as_of": "2013-01-13T00:00:00+00:00"}},
            },
        ),
        (["batch_predictions", "feature_drift_report", "prediction_drift_report"], *SCORED_DAYS, {}),
        (train, None, None, {"trained_model": {"config": WEAK_CHALLENGER}}),
    ]
    for assets, start, end, ops in steps:
        result = materialize(
            home, assets, start, end, instance=instance, run_config={"ops": ops}, settings=settings
        )
        assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    decision = result.output_for_node("champion_model")
    assert decision["outcome"] == "refused", decision  # the browser tests look at a refusal
    instance.dispose()
    return settings


class Stack:
    """The Dagster UI and daemon, MLflow's UI and the reports server, as ``make dev`` starts them,
    plus the champion's ``bentoml serve``; every process in its own group."""

    def __init__(self, settings, log_dir: Path) -> None:
        self.settings = settings
        self.dagster_url = settings.dagster_url
        # The repository's workspace, as `make dev` loads it: the location is named `fti_assets`.
        self.servers: list[Server] = servers(settings, REPO / "workspace.yaml")
        self.service = ServiceProcess("flight_delay_service:latest", settings.home, log=log_dir / "serve.log")

    def __enter__(self) -> Stack:
        try:
            for server in self.servers:
                server.start(cwd=REPO)
            self.service.start(timeout=120)
            wait_until_up(self.servers, timeout=240)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.service.stop()
        for server in self.servers:
            server.stop()
