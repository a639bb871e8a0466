"""Governance: the promotion policy file, its hash in the history, and the model card."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from fti_assets.deployment.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy
from fti_assets_tests.conftest import materialize, settings_for

TRAIN = ["trained_model", "model_evaluation", "champion_model"]


def _policy(folder: Path, name: str, **replacements: str) -> Path:
    """The packaged policy with some lines replaced (``old line`` -> ``new line``)."""
    text = DEFAULT_POLICY.read_text()
    for old, new in replacements.values():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


# A two-week model is weak: these floors let the first one through.
LOW_FLOORS = {"auc": ("  auc: 0.65", "  auc: 0.5"), "brier": ("  max_brier: 0.2", "  max_brier: 0.25")}


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_packaged_policy_holds_the_rules_and_its_hash_ignores_comments(tmp_path: Path) -> None:
    loaded = load_policy()
    assert loaded.policy.slices.by == ["carrier", "origin"] and loaded.policy.leak_alarm.auc == 0.9
    assert loaded.policy.force.allowed == [] and loaded.policy.shadow_evidence.required is False
    commented = tmp_path / "p.yaml"
    commented.write_text(
        "# another comment\n"
        + DEFAULT_POLICY.read_text().replace("max_auc_drop: 0.02", "max_auc_drop: 0.020  # same")
    )
    assert load_policy(commented).hash == loaded.hash
    changed = _policy(tmp_path, "changed", drop=("max_auc_drop: 0.02", "max_auc_drop: 0.03"))
    assert load_policy(changed).hash != loaded.hash


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("max_auc_drop: 0.02", "max_auc_drop: lots", "slices.max_auc_drop", "valid number"),
        ("  auc: 0.9", "  auc: 1.5", "leak_alarm.auc", "less than or equal to 1"),
        ("by: [carrier, origin]", "by: [carrier, tailnum]", "slices.by.1", "'carrier', 'origin' or 'dest'"),
        ("  required: false", "  required: perhaps", "shadow_evidence.required", "valid boolean"),
        ("  min_rows: 1000", "  min_row: 1000", "shadow_evidence.min_row", "Extra inputs are not permitted"),
    ],
)
def test_a_policy_with_a_bad_value_is_refused_naming_the_line(
    old: str, new: str, field: str, reason: str
) -> None:
    text = DEFAULT_POLICY.read_text().replace(old, new)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.yaml")
    message = str(caught.value)
    assert f"policy.yaml: line {_line(text, new.strip())}: {field}" in message and reason in message


def test_a_missing_section_and_broken_yaml_are_refused() -> None:
    text = DEFAULT_POLICY.read_text()
    without_force = text[: text.index("\n# Who may promote")]
    # A missing key is reported at the mapping that should hold it.
    with pytest.raises(PolicyError, match=rf"line {_line(text, 'champion:')}: force: Field required"):
        parse_policy(without_force, "policy.yaml")
    with pytest.raises(PolicyError, match=r"line \d+: not valid YAML"):
        parse_policy(text.replace("by: [carrier, origin]", "by: [carrier, origin"), "policy.yaml")


@pytest.fixture(scope="module")
def governed(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the two-week store whose first model was evaluated and promoted under a
    policy with low floors."""
    folder = tmp_path_factory.mktemp("governed")
    home = folder / "home"
    shutil.copytree(feature_home, home)
    lenient = _policy(folder, "lenient", **LOW_FLOORS)
    settings = dataclasses.replace(settings_for(home), policy_path=str(lenient))
    result = materialize(home, TRAIN, None, None, settings=settings)
    assert result.success
    return {"home": home, "folder": folder, "settings": settings, "lenient": load_policy(lenient)}


def _registry(settings):
    from fti_assets.resources.environment import build_resources

    return build_resources(settings)["registry"]


def test_a_policy_change_is_recorded_in_the_history(governed: dict) -> None:
    home, folder, lenient = governed["home"], governed["folder"], governed["lenient"]
    registry = _registry(governed["settings"])
    first = registry.history()[-1]
    assert (first["action"], first["version"], first["policy_hash"]) == ("promote", 1, lenient.hash)
    assert registry.client().get_model_version("flight_delay", "1").tags["policy_hash"] == lenient.hash

    # A stricter policy, which only alice may overrule: the next model is refused under it.
    strict_path = _policy(
        folder,
        "strict",
        **LOW_FLOORS,
        improvement=("min_improvement: 0.001", "min_improvement: 0.5"),
        force=("  allowed: []", "  allowed: [alice]"),
    )
    strict = load_policy(strict_path)
    settings = dataclasses.replace(governed["settings"], policy_path=str(strict_path))
    config = {"ops": {"trained_model": {"config": {"seed": 7}}}}
    assert materialize(home, TRAIN, None, None, settings=settings, run_config=config).success
    refused = registry.history()[-1]
    assert (refused["action"], refused["version"], refused["policy_hash"]) == ("refuse", 2, strict.hash)
    assert "needs >=" in refused["reason"] and refused["report"]["policy_hash"] == strict.hash

    # Evaluated under the strict policy, promoted under the lenient one: evaluate again.
    assert materialize(home, ["champion_model"], None, None, settings=governed["settings"]).success
    stale = registry.history()[-1]
    assert stale["action"] == "refuse" and f"evaluated under policy {strict.hash[:12]}" in stale["reason"]

    # Only someone the policy names may force a refused model through.
    forced = {"ops": {"champion_model": {"config": {"forced_by": "mallory"}}}}
    assert not materialize(home, ["champion_model"], None, None, settings=settings, run_config=forced).success
    forced["ops"]["champion_model"]["config"]["forced_by"] = "alice"
    assert materialize(home, ["champion_model"], None, None, settings=settings, run_config=forced).success
    promoted = registry.history()[-1]
    assert (promoted["action"], promoted["version"], promoted["policy_hash"]) == ("promote", 2, strict.hash)
    assert "forced by alice" in promoted["actor"] and "the gates refused it" in promoted["reason"]

    from fti_assets.commands.operations import history_table

    assert f"[policy {strict.hash[:12]}]" in history_table(governed["settings"]).splitlines()[-1]


def test_a_history_written_before_the_policy_file_gains_the_column(tmp_path: Path) -> None:
    import sqlite3

    from fti_assets.deployment.history import ModelHistory

    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as db:  # the table as it was before the policy column
        db.execute(
            "CREATE TABLE model_events (id INTEGER PRIMARY KEY AUTOINCREMENT, model_name VARCHAR(200) NOT NULL, "
            "at VARCHAR(40) NOT NULL, action VARCHAR(20) NOT NULL, version INTEGER NOT NULL, from_version INTEGER, "
            "actor VARCHAR(500) NOT NULL, reason TEXT NOT NULL, report TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO model_events (model_name, at, action, version, actor, reason, report) "
            "VALUES ('m', '2013-01-01', 'promote', 1, 'me', 'old', '{}')"
        )
    history = ModelHistory(f"sqlite:///{path}")
    history.append("m", "promote", 2, "2013-01-02", "me", "new", 1, {}, policy_hash="ab" * 32)
    assert [(e["version"], e["policy_hash"]) for e in history.events("m")] == [(1, None), (2, "ab" * 32)]


def test_the_model_card_holds_the_real_figures_and_goes_with_the_bento_and_its_sbom(governed: dict) -> None:
    import json
    from importlib.metadata import version as installed

    import mlflow

    from fti_assets.resources.records import read_record

    home, settings = governed["home"], governed["settings"]
    evaluated = read_record(home, "model_evaluation")
    # Under the policy the model was evaluated with (the policy test may have changed it).
    policy_path = next(
        p for p in governed["folder"].glob("*.yaml") if load_policy(p).hash == evaluated["policy_hash"]
    )
    settings = dataclasses.replace(settings, policy_path=str(policy_path))
    result = materialize(home, ["model_card", "flight_delay_bento"], None, None, settings=settings)
    assert result.success
    card = read_record(home, "model_card")["markdown"]
    ours = evaluated["metrics"]["challenger"]
    assert (
        f"| challenger | {evaluated['version']} | {ours['rows']} | {ours['auc']:.4f} | "
        f"{ours['log_loss']:.4f} | {ours['brier']:.4f} |" in card
    )
    assert evaluated["dataset_hash"] in card and evaluated["policy_hash"] in card
    jfk = next(r for r in evaluated["slices"] if r["slice"] == "JFK")
    assert f"| origin | JFK | {jfk['rows']} | {jfk['auc']:.4f} |" in card
    top = evaluated["calibration"][0]
    assert (
        f"| {top['range']} | {top['rows']} | {top['mean_predicted']:.4f} | {top['observed_rate']:.4f} |"
        in card
    )
    assert "origin_weather" in card and "minute 51" in card and "plane_known = 0" in card

    registry = _registry(settings)
    mv = registry.client().get_model_version("flight_delay", str(evaluated["version"]))
    logged = mlflow.artifacts.load_text(f"runs:/{mv.run_id}/model_card/model_card.md")
    assert logged == card
    assert "<table>" in mlflow.artifacts.load_text(f"runs:/{mv.run_id}/model_card/model_card.html")
    registered_sbom = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/{mv.tags['sbom']}")
    lightgbm = [c for c in registered_sbom["components"] if c["name"] == "lightgbm"]
    assert [c["version"] for c in lightgbm] == [installed("lightgbm")]

    name, bento_version = (
        registry.client()
        .get_model_version("flight_delay", str(evaluated["version"]))
        .tags["bento"]
        .split(":")
    )
    bento = home / "bentoml" / "bentos" / name / bento_version / "src" / "governance"
    assert (bento / "model_card.md").read_text() == card and (bento / "model_card.html").exists()
    bento_sbom = json.loads((bento / "sbom.cdx.json").read_text())
    assert {c["name"]: c["version"] for c in bento_sbom["components"]}["lightgbm"] == installed("lightgbm")
