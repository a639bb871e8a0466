"""Promotion and rollback: the registry alias `champion`, moved one change at a time.

A refusal is a normal outcome: the run stays green, and the verdict ("kept vN, refused vM
because ...") is in the asset's metadata, in the run tag ``fti/verdict`` and in the history.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from fti_assets.locks import LIFECYCLE_POOL, ChangeLock
from fti_assets.registry import CHAMPION, ModelRegistry
from fti_assets.storage.offline_store import OfflineStore

VERDICT_TAG = "fti/verdict"


class PromotionConfig(dg.Config):
    action: str = "promote"
    """`promote` the evaluated challenger (only if it passed every gate) or `rollback`."""
    reason: str = ""
    evidence: str = ""
    """JSON evidence stored with the event in the history (the automatic rollback's AUCs)."""
    require_shadow_evidence: bool = False
    """Also require the challenger to have matched the champion in shadow or canary."""
    min_evidence_rows: int = 1000


def shadow_evidence_problem(store: OfflineStore, version: int, min_rows: int) -> str | None:
    """Why shadow/canary evidence does not support promoting ``version`` (None if it does)."""
    try:
        evidence = store.read("shadow_comparison").filter(pl.col("challenger_version") == version).sort("day")
    except FileNotFoundError:
        evidence = pl.DataFrame()
    if evidence.height == 0:
        return f"no shadow or canary evidence for version {version}"
    last = evidence.row(-1, named=True)
    if last["rows_total"] < min_rows:
        return f"only {last['rows_total']} flights with outcomes in shadow/canary; {min_rows} needed"
    if last["challenger_auc"] < last["champion_auc"]:
        return f"in shadow/canary the challenger's AUC {last['challenger_auc']:.4f} trails the champion's {last['champion_auc']:.4f}"
    return None


def promotion_problem(evaluation: dict, champion: int | None, version_tags: dict[str, str]) -> str | None:
    """Why ``evaluation`` cannot promote its version now (None if it can)."""
    if not evaluation["passed"]:
        return "the gates refused it: " + "; ".join(f"{k}: {g['message']}" for k, g in evaluation["gates"].items() if not g["passed"])
    if version_tags.get("rolled_back_at"):
        return f"it was rolled back at {version_tags['rolled_back_at']} ({version_tags.get('rollback_reason', '')}): train a new version"
    judged_against = evaluation.get("champion_at_evaluation", evaluation.get("champion_version"))
    if judged_against != champion:
        return f"it was evaluated against champion v{judged_against}, but the champion is now v{champion}: evaluate it again"
    if version_tags.get("dataset_hash") != evaluation.get("dataset_hash"):
        return (f"it was evaluated on dataset {str(evaluation.get('dataset_hash'))[:12]} but trained on "
                f"{str(version_tags.get('dataset_hash'))[:12]}: evaluate it on its own dataset")  # fmt: skip
    return None


def _verdict_output(context: dg.AssetExecutionContext, record: dict) -> dg.Output:
    context.instance.add_run_tags(context.run_id, {VERDICT_TAG: record["verdict"][:1000]})
    context.log.info(record["verdict"])
    return dg.Output(record, metadata={"verdict": record["verdict"], "outcome": record["outcome"], "champion_version": record["version"],
                                       "previous_version": record["previous"], "reason": record["reason"]})  # fmt: skip


@dg.asset(group_name="deployment", io_manager_key="record_io_manager", backfill_policy=dg.BackfillPolicy.single_run(), pool=LIFECYCLE_POOL)
def champion_model(
    context: dg.AssetExecutionContext, config: PromotionConfig, model_evaluation: dict, registry: ModelRegistry, store: OfflineStore,
    lock: ChangeLock,
) -> dg.Output:  # fmt: skip
    """The model serving traffic: the registry alias `champion`. It moves only to a challenger
    that passed every gate, was judged against the current champion on its own dataset (or
    back, on rollback). A refused challenger leaves the champion in place and the run green:
    the verdict is this asset's metadata and the run tag `fti/verdict`."""
    import json

    now, by = datetime.now(UTC).isoformat(), f"dagster run {context.run.run_id}"
    with lock.hold("champion", by, context.log.info):
        current = registry.version_by_alias(CHAMPION)
        champion = int(current.version) if current else None
        if config.action == "rollback":
            reason = config.reason or "manual rollback"
            try:
                demoted, version = registry.rollback(reason, now, by, json.loads(config.evidence) if config.evidence else None)
            except ValueError as exc:
                raise dg.Failure(str(exc)) from exc
            record = {"outcome": "rolled back", "version": version, "previous": demoted, "action": "rollback", "at": now, "reason": reason,
                      "verdict": f"rolled back from v{demoted} to v{version}: {reason}"}  # fmt: skip
            return _verdict_output(context, record)
        if config.action != "promote":
            raise dg.Failure(f"unknown action {config.action!r}: use 'promote' or 'rollback'")
        version = model_evaluation["version"]
        base = {"action": "promote", "at": now, "candidate": version, "previous": champion}
        if version == champion:
            return _verdict_output(context, {**base, "outcome": "kept", "version": champion, "reason": "already the champion",
                                             "verdict": f"kept v{champion}: it is already the champion"})  # fmt: skip
        tags = registry.client().get_model_version(registry.model_name, str(version)).tags
        problem = promotion_problem(model_evaluation, champion, tags)
        if problem is None and config.require_shadow_evidence:
            problem = shadow_evidence_problem(store, version, config.min_evidence_rows)
        report = {"gates": model_evaluation["gates"], "metrics": model_evaluation["metrics"], "evaluated_at": model_evaluation["evaluated_at"]}
        if problem is not None:
            registry.refuse(version, problem, now, by, report)
            kept = f"kept v{champion}" if champion is not None else "no champion yet"
            return _verdict_output(context, {**base, "outcome": "refused", "version": champion, "reason": problem,
                                             "verdict": f"{kept}, refused v{version} because {problem}"})  # fmt: skip
        auc = model_evaluation["metrics"]["challenger"]["auc"]
        champion_auc = (model_evaluation["metrics"]["champion"] or {}).get("auc")
        reason = config.reason or (f"passed the gates: test AUC {auc:.4f}" + (f" vs {champion_auc:.4f}" if champion_auc else " (first champion)"))
        replaced = registry.promote(version, reason, now, by, report)
        return _verdict_output(context, {**base, "outcome": "promoted", "version": version, "previous": replaced, "reason": reason,
                                         "test_auc": auc, "verdict": f"promoted v{version}" + (f" over v{replaced}" if replaced else "") + f": {reason}"})  # fmt: skip
