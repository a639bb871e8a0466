"""Promotion and rollback: the registry alias `champion`, moved one change at a time.

A refusal is a normal outcome: the run stays green, and the verdict ("kept vN, refused vM
because ...") is in the asset's metadata, in the run tag ``fti/verdict`` and in the history.
"""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from fti_assets.resources.locks import LIFECYCLE_POOL, ChangeLock
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.policy import PolicyResource
from fti_assets.resources.registry import CHAMPION, ModelRegistry

VERDICT_TAG = "fti/verdict"


class PromotionConfig(dg.Config):
    action: str = "promote"
    """`promote` the evaluated challenger (only if it passed every gate) or `rollback`."""
    reason: str = ""
    evidence: str = ""
    """JSON evidence stored with the event in the history (the automatic rollback's AUCs)."""
    require_shadow_evidence: bool | None = None
    """Also require the challenger to have matched the champion in shadow or canary (empty:
    the policy file's ``shadow_evidence.required``)."""
    min_evidence_rows: int | None = None
    """Flights with outcomes the shadow evidence needs (empty: ``shadow_evidence.min_rows``)."""
    forced_by: str = ""
    """Promote although the gates (or the shadow evidence) refused: a name the policy file's
    ``force.allowed`` lists; the event records who forced it and what was overruled."""


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
        return (
            f"in shadow/canary the challenger's AUC {last['challenger_auc']:.4f} trails the champion's "
            f"{last['champion_auc']:.4f}"
        )
    return None


def gate_problem(evaluation: dict) -> str | None:
    """What the gates refused (None if they all passed)."""
    if not evaluation["passed"]:
        return "the gates refused it: " + "; ".join(
            f"{k}: {g['message']}" for k, g in evaluation["gates"].items() if not g["passed"]
        )
    return None


def promotion_problem(
    evaluation: dict, champion: int | None, version_tags: dict[str, str], policy_hash: str | None = None
) -> str | None:
    """Why ``evaluation`` cannot promote its version now (None if it can)."""
    return gate_problem(evaluation) or stale_problem(evaluation, champion, version_tags, policy_hash)


def stale_problem(
    evaluation: dict, champion: int | None, version_tags: dict[str, str], policy_hash: str | None
) -> str | None:
    """Why the evaluation no longer describes the decision to make (None if it does); no one can force past these."""
    if policy_hash is not None and evaluation.get("policy_hash") != policy_hash:
        return (
            f"it was evaluated under policy {str(evaluation.get('policy_hash'))[:12]}, but the policy is "
            f"now {policy_hash[:12]}: "
            "evaluate it again"
        )
    if version_tags.get("rolled_back_at"):
        return (
            f"it was rolled back at {version_tags['rolled_back_at']} "
            f"({version_tags.get('rollback_reason', '')}): train a new version"
        )
    judged_against = evaluation.get("champion_at_evaluation", evaluation.get("champion_version"))
    if judged_against != champion:
        return (
            f"it was evaluated against champion v{judged_against}, but the champion is now v{champion}: "
            "evaluate it again"
        )
    if version_tags.get("dataset_hash") != evaluation.get("dataset_hash"):
        return (
            f"it was evaluated on dataset {str(evaluation.get('dataset_hash'))[:12]} but trained on "
            f"{str(version_tags.get('dataset_hash'))[:12]}: evaluate it on its own dataset"
        )
    return None


def _verdict_output(context: dg.AssetExecutionContext, record: dict) -> dg.Output:
    context.instance.add_run_tags(context.run_id, {VERDICT_TAG: record["verdict"][:1000]})
    context.log.info(record["verdict"])
    return dg.Output(
        record,
        metadata={
            "verdict": record["verdict"],
            "outcome": record["outcome"],
            "champion_version": record["version"],
            "previous_version": record["previous"],
            "reason": record["reason"],
        },
    )


@dg.asset(
    group_name="deployment",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=LIFECYCLE_POOL,
)
def champion_model(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    model_evaluation: dict,
    registry: ModelRegistry,
    store: OfflineStore,
    lock: ChangeLock,
    policy: PolicyResource,
) -> dg.Output:
    """The model serving traffic: the registry alias `champion`. It moves only to a challenger
    that passed every gate, was judged against the current champion on its own dataset under
    the current policy file (or back, on rollback), unless someone the policy allows forces
    it. A refused challenger leaves the champion in place and the run green: the verdict is
    this asset's metadata and the run tag `fti/verdict`; the history records the policy hash.
    The shadow evidence it may require (`shadow_comparison`) is read from the offline store and
    not declared: that evidence comes from batch predictions of this champion, and Dagster's
    asset graph admits no cycle."""
    import json

    rules = policy.load()

    now, by = datetime.now(UTC).isoformat(), f"dagster run {context.run.run_id}"
    with lock.hold("champion", by, context.log.info):
        current = registry.version_by_alias(CHAMPION)
        champion = int(current.version) if current else None
        if config.action == "rollback":
            reason = config.reason or "manual rollback"
            try:
                demoted, version = registry.rollback(
                    reason, now, by, json.loads(config.evidence) if config.evidence else None, rules.hash
                )
            except ValueError as exc:
                raise dg.Failure(str(exc)) from exc
            record = {
                "outcome": "rolled back",
                "version": version,
                "previous": demoted,
                "action": "rollback",
                "at": now,
                "reason": reason,
                "verdict": f"rolled back from v{demoted} to v{version}: {reason}",
            }
            return _verdict_output(context, record)
        if config.action != "promote":
            raise dg.Failure(f"unknown action {config.action!r}: use 'promote' or 'rollback'")
        version = model_evaluation["version"]
        base = {"action": "promote", "at": now, "candidate": version, "previous": champion}
        if version == champion:
            return _verdict_output(
                context,
                {
                    **base,
                    "outcome": "kept",
                    "version": champion,
                    "reason": "already the champion",
                    "verdict": f"kept v{champion}: it is already the champion",
                },
            )
        tags = registry.client().get_model_version(registry.model_name, str(version)).tags
        shadow = rules.policy.shadow_evidence
        require_shadow = (
            shadow.required if config.require_shadow_evidence is None else config.require_shadow_evidence
        )
        problem = stale_problem(model_evaluation, champion, tags, rules.hash)
        judged = None if problem else gate_problem(model_evaluation)
        if problem is None and judged is None and require_shadow:
            judged = shadow_evidence_problem(
                store,
                version,
                shadow.min_rows if config.min_evidence_rows is None else config.min_evidence_rows,
            )
        if judged is not None and config.forced_by:
            if config.forced_by not in rules.policy.force.allowed:
                raise dg.Failure(
                    f"{config.forced_by!r} may not force a promotion: the policy {rules.path} allows "
                    f"{rules.policy.force.allowed or 'nobody'} (force.allowed)"
                )
            by, judged = f"{by}, forced by {config.forced_by}", None
            config_reason = (
                f"forced by {config.forced_by} over: "
                f"{gate_problem(model_evaluation) or 'missing shadow evidence'}"
            )
        else:
            config_reason = ""
        problem = problem or judged
        report = {
            "gates": model_evaluation["gates"],
            "metrics": model_evaluation["metrics"],
            "evaluated_at": model_evaluation["evaluated_at"],
            "policy_hash": rules.hash,
            "policy_overrides": model_evaluation.get("policy_overrides", {}),
        }
        if problem is not None:
            registry.refuse(version, problem, now, by, report, rules.hash)
            kept = f"kept v{champion}" if champion is not None else "no champion yet"
            return _verdict_output(
                context,
                {
                    **base,
                    "outcome": "refused",
                    "version": champion,
                    "reason": problem,
                    "verdict": f"{kept}, refused v{version} because {problem}",
                },
            )
        auc = model_evaluation["metrics"]["challenger"]["auc"]
        champion_auc = (model_evaluation["metrics"]["champion"] or {}).get("auc")
        reason = (
            config.reason
            or config_reason
            or (
                f"passed the gates: test AUC {auc:.4f}"
                + (f" vs {champion_auc:.4f}" if champion_auc else " (first champion)")
            )
        )
        replaced = registry.promote(version, reason, now, by, report, rules.hash)
        registry.tag_version(version, {"promoted_under_policy": rules.hash})
        return _verdict_output(
            context,
            {
                **base,
                "outcome": "promoted",
                "version": version,
                "previous": replaced,
                "reason": reason,
                "test_auc": auc,
                "verdict": f"promoted v{version}"
                + (f" over v{replaced}" if replaced else "")
                + f": {reason}",
            },
        )
