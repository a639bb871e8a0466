"""Progress of headless runs: one line per step, read from the run's event log while it runs."""

from __future__ import annotations

import dagster as dg
import pytest

from fti_assets.platform.instance import write_instance_file
from fti_assets.platform.progress import QUIET, quiet_logger, step_progress


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="counted")])
def counted(context) -> dg.MaterializeResult:  # noqa: ANN001 (Dagster reads the hint, a string here)
    context.log.info("counted 3 rows")
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="positive", passed=False)])


@dg.asset(deps=[counted])
def broken() -> None:
    raise ValueError("the source file is truncated")


def _run(tmp_path, failures_only: bool) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(assets=[counted, broken], loggers={"quiet_logger": quiet_logger})
    instance = dg.DagsterInstance.from_config(str(write_instance_file(tmp_path, production=False)))
    with step_progress(instance, failures_only=failures_only) as run_id:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False, run_id=run_id
        )
    assert result.run_id == run_id
    return result


def test_each_step_gets_its_lines_and_a_failure_its_own_error(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path / "all", failures_only=False)
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert "▶ counted" in lines and "▶ broken" in lines
    assert "  counted: counted 3 rows" in lines
    assert "! counted: check 'positive' did not pass" in lines
    assert any(line.startswith("✔ counted (") for line in lines)
    # The user's error, not Dagster's wrapper around it.
    assert "✘ broken: ValueError: the source file is truncated" in lines
    assert not any(
        "DEBUG" in line or "STEP_START" in line for line in lines
    )  # Dagster's console logger is off


def test_failures_only_prints_the_failed_step_alone(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path / "failures", failures_only=True)
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["✘ broken: ValueError: the source file is truncated"]
