"""What the Dagster UI says about checks and jobs, read from the loaded definitions."""

from __future__ import annotations

import dagster as dg

from fti_assets.definitions import defs


def _checks() -> dict[dg.AssetCheckKey, dg.AssetCheckSpec]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get_check_spec(key) for key in graph.asset_check_keys}


def test_every_asset_check_has_a_description() -> None:
    checks = _checks()
    assert not [key.to_user_string() for key, spec in checks.items() if not spec.description]
    # The promotion gates are model_evaluation's verdict, not checks: a refusal is no failure.
    assert not [key for key in checks if key.asset_key == dg.AssetKey("model_evaluation")]


def test_the_null_share_check_names_its_exemption() -> None:
    checks = _checks()
    weather = checks[dg.AssetCheckKey(dg.AssetKey("origin_weather"), "null_shares")].description
    assert "Exempt: `wind_gust`" in weather and "50%" in weather
    others = [
        spec.description
        for key, spec in checks.items()
        if key.name == "null_shares" and key.asset_key.path != ["origin_weather"]
    ]
    assert others and not any("Exempt" in d for d in others)


def test_jobs_say_which_pipeline_they_are() -> None:
    jobs = {
        job.name: job.description or ""
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    for name in ("feature", "training", "inference"):
        assert jobs[f"{name}_pipeline"].startswith(f"FTI {name} pipeline:")
    assert jobs["monitoring_pipeline"].startswith("Monitoring") and jobs["replay_report_job"].startswith(
        "Monitoring"
    )
    assert (
        "training pipeline" in jobs["challenger_rollout"]
        and "feature and inference pipelines" in jobs["daily_pipeline"]
    )
