"""Hyperparameter search: an Optuna study in RDB storage, each trial an MLflow child run."""

from __future__ import annotations

import shutil
from pathlib import Path

from fti_assets_tests.conftest import materialize, settings_for


def test_a_two_trial_study_logs_two_child_runs_and_trained_model_takes_its_best_params(
    feature_home: Path, tmp_path: Path
) -> None:
    import optuna

    from fti_assets.resources.environment import build_resources
    from fti_assets.resources.records import read_record

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    search = {
        "ops": {
            "hyperparameter_search": {
                "config": {"n_trials": 2, "max_rounds": 60, "early_stopping_rounds": 10}
            }
        }
    }
    assert materialize(home, ["hyperparameter_search"], None, None, run_config=search).success
    record = read_record(home, "hyperparameter_search")
    assert record["trials"] == {"complete": 2}

    registry = build_resources(settings_for(home))["registry"]
    client = registry.client()
    experiment = client.get_experiment_by_name(registry.experiment).experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{record['run_id']}'")
    assert len(children) == 2
    assert {c.data.tags["optuna_trial"] for c in children} == {"0", "1"}
    best = max(children, key=lambda c: c.data.metrics["validation_auc"])
    assert best.data.metrics["validation_auc"] == record["best"]["validation_auc"]

    study = optuna.load_study(study_name=record["study"], storage=settings_for(home).optuna_storage)
    assert len(study.trials) == 2 and study.best_value == record["best"]["validation_auc"]

    assert materialize(
        home,
        ["trained_model"],
        None,
        None,
        run_config={"ops": {"trained_model": {"config": {"use_search": True}}}},
    ).success
    trained = read_record(home, "trained_model")
    assert {k: trained["params"][k] for k in record["best"]["params"]} == record["best"]["params"]
    assert (
        client.get_model_version("flight_delay", str(trained["version"])).tags["params_from"]
        == "hyperparameter_search"
    )
