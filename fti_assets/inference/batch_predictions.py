"""Batch inference: the champion scores each day's flights through the offline retrieval path."""

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.partitions import daily_partitions, history_deps
from fti_assets.resources.io_manager import PARTITION_COLUMN
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.registry import CHALLENGER, CHAMPION, PREVIOUS, ModelRegistry


def feature_snapshot(instance: dg.DagsterInstance) -> str:
    """Identifies the feature materializations read: a hash of each group's latest run and time."""
    events = instance.get_latest_materialization_events([dg.AssetKey(g.name) for g in FEATURE_GROUPS])
    ids = sorted(
        f"{key.to_user_string()}:{event.run_id}:{event.timestamp}" if event else key.to_user_string()
        for key, event in events.items()
    )
    return hashlib.sha256("|".join(ids).encode()).hexdigest()[:16]


def score(
    spine: pl.DataFrame, tables: dict[str, pl.DataFrame], booster, spec, explain: bool = False
) -> pl.DataFrame:
    """The spine with features as of each row's ``as_of`` and the model's probability."""
    from fti_assets.domain.retrieval import point_in_time_join

    return predict_frame(point_in_time_join(spine, tables), booster, spec, explain)


def predict_frame(features: pl.DataFrame, booster, spec, explain: bool = False) -> pl.DataFrame:
    """``features`` with the model's delay probability, encoded by the model's own spec; with
    ``explain``, each row's top five TreeSHAP contributions on the same columns (``explanation``)."""
    out = features.with_columns(delay_probability=pl.Series(spec.predict(booster, features)))
    if not explain:
        return out
    from fti_assets.serving.predictor import top_contributions

    rows = [top_contributions(c, spec.features) for c in spec.predict(booster, features, contributions=True)]
    dtype = pl.List(pl.Struct({"feature": pl.String, "contribution": pl.Float64}))
    return out.with_columns(
        raw_score=pl.Series([r["raw_score"] for r in rows], dtype=pl.Float64),
        explanation=pl.Series([r["top"] for r in rows], dtype=dtype),
    )


class BatchPredictionConfig(dg.Config):
    explanations: bool = False
    """Also store each flight's raw score and top five feature contributions (TreeSHAP), as
    columns ``raw_score`` and ``explanation``."""


@dg.asset(
    group_name="inference",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "flight_date"},
    # Each group read through the store as far back (and ahead) as its TTL (and lookahead) reaches;
    # origin_congestion is the day's own partition, loaded as an input.
    deps=[
        *history_deps([g for g in FEATURE_GROUPS if g.name != "origin_congestion"]),
        "champion_model",
        "challenger_model",
    ],
    output_required=False,
)
def batch_predictions(
    context: dg.AssetExecutionContext,
    config: BatchPredictionConfig,
    flight_schedule: pl.DataFrame,
    origin_congestion: pl.DataFrame,
    store: OfflineStore,
    registry: ModelRegistry,
):
    """Every scheduled flight of the day scored by the champion, with features as of its
    prediction time (the training retrieval path), stamped with the model version and the
    feature snapshot it read (and, on request, each flight's top feature contributions). The
    challenger and the previous champion are scored in shadow on the same flights (the evidence of
    the canary guard and of the automatic rollback). Skipped, with the reason in the log, while
    there is no champion. A day reads each feature group's
    partitions from its TTL (plus two days of late rows) before the day to its lookahead after;
    the models are the registry's aliases that `champion_model` and `challenger_model` move (the
    previous champion is the one `champion_model` last replaced)."""
    from fti_assets.training.dataset import coverage

    champion = registry.version_by_alias(CHAMPION)
    if champion is None:
        context.log.warning(
            "skipped: there is no champion model yet (no model has passed the gates); train on a longer window"
        )
        return
    model = registry.load(int(champion.version))
    spec = model.feature_spec
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()  # the end is exclusive
    # Each group's history is read back only as far as its TTL: a new day costs the same
    # whatever the store's age.
    tables = {
        g.name: store.read_history(g, first, last) for g in FEATURE_GROUPS if g.name != "origin_congestion"
    }
    tables["origin_congestion"] = origin_congestion
    scored = score(
        flight_schedule.with_columns(as_of=pl.col("prediction_time")),
        tables,
        model.booster,
        spec,
        config.explanations,
    )
    snapshot = feature_snapshot(context.instance)
    shadows = {}
    for role in (CHALLENGER, PREVIOUS):  # scored in shadow on every flight, never served from here
        found = registry.version_by_alias(role)
        shadows[role] = (int(found.version) if found else None, pl.lit(None, pl.Float64))
        if found is not None:
            other = registry.load(int(found.version))
            shadows[role] = (int(found.version), pl.Series(other.feature_spec.predict(other.booster, scored)))
    out = scored.select(
        "flight_id",
        "flight_date",
        "prediction_time",
        "scheduled_departure",
        "tailnum",
        *spec.features,
        "delay_probability",
        model_version=pl.lit(int(champion.version)),
        features_as_of=pl.col("prediction_time"),
        feature_snapshot=pl.lit(snapshot),
        scored_at=pl.lit(datetime.now(UTC)),
        challenger_version=pl.lit(shadows[CHALLENGER][0], pl.Int64),
        challenger_probability=shadows[CHALLENGER][1],
        previous_version=pl.lit(shadows[PREVIOUS][0], pl.Int64),
        previous_probability=shadows[PREVIOUS][1],
    )
    if config.explanations:
        out = out.with_columns(scored.select("raw_score", "explanation"))
    context.log.info(f"scored {out.height:,} flights with model v{champion.version}")
    yield dg.Output(
        out,
        metadata={
            "dagster/row_count": out.height,
            "model_version": int(champion.version),
            "feature_snapshot": snapshot,
            "mean_delay_probability": round(float(out["delay_probability"].mean() or 0), 4),
            "congestion_coverage": dg.MetadataValue.json(coverage(scored, "origin_congestion")),
        },
    )
