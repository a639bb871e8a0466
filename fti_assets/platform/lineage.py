"""OpenLineage run events for every finished materialization run, sent by run-status sensors.

For each Dagster run: a run event for the Dagster job (START, then COMPLETE or FAIL), and one
child run per asset it materialized, with the asset's ParentRunFacet pointing at the Dagster run:

- the job is the asset (``<namespace>.flights``, say), its output dataset the asset's table,
  with the partitions written (the spec's partition subset facet) and the row count;
- its inputs are the asset's dependencies in the asset graph, each with the upstream
  partitions the asset's partition mapping gives for those written;
- datasets under a pandera contract carry its columns as a schema facet;
- ``training_dataset`` carries its content hash as the dataset version, ``trained_model`` the
  hash of the dataset it read, its registered model version and MLflow run (an ``mlflow`` run facet).

Why a sensor and not ``openlineage-dagster``: that package (1.38, the newest) pins Dagster 1.6
and imports ``dagster.core`` modules that Dagster 1.13 no longer has, and it maps ops, not
assets. The events leave when the run has finished (the sensor's tick after it), each stamped
with the time its step started, wrote or failed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from fti_assets.resources.lineage import LineageResource

PRODUCER = "https://github.com/fti-assets/fti-assets/tree/main/fti_assets/platform/lineage.py"
MLFLOW_FACET_SCHEMA = (
    "https://github.com/fti-assets/fti-assets/tree/main/fti_assets/platform/lineage.py#MlflowRunFacet"
)


@dataclass
class AssetRun:
    """One asset's part of a Dagster run."""

    started: float | None = None
    ended: float | None = None
    partitions: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunTimeline:
    run_id: str
    job_name: str
    started: float | None = None
    ended: float | None = None
    failed: bool = False
    error: str | None = None
    assets: dict[str, AssetRun] = field(default_factory=dict)


def read_timeline(instance: dg.DagsterInstance, run: dg.DagsterRun, known: set[str]) -> RunTimeline:
    """When each of the run's assets (those in ``known``) started, wrote and failed."""
    timeline = RunTimeline(run.run_id, run.job_name, failed=run.status == dg.DagsterRunStatus.FAILURE)
    kinds = {
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.RUN_SUCCESS,
        dg.DagsterEventType.RUN_FAILURE,
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
    }
    for record in instance.get_records_for_run(run.run_id, of_type=kinds, limit=1_000_000).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        kind = event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            timeline.started = entry.timestamp
        elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
            timeline.ended = entry.timestamp
            if kind == dg.DagsterEventType.RUN_FAILURE:
                timeline.error = event.message
            continue
        asset = (event.step_key or "").split(".")[0]  # a graph asset's steps are named after it
        if asset not in known:
            continue
        part = timeline.assets.setdefault(asset, AssetRun())
        if kind == dg.DagsterEventType.STEP_START:
            part.started = part.started or entry.timestamp
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            part.ended, error = entry.timestamp, event.event_specific_data.error
            part.error = (error.to_string() if error else None) or event.message or "step failed"
        elif materialization := entry.asset_materialization:
            part.ended = entry.timestamp
            if materialization.partition:
                part.partitions.append(materialization.partition)
            part.metadata = {k: v.value for k, v in materialization.metadata.items()}
    return timeline


def upstream_partitions(
    defs_by_key: dict, child: dg.AssetKey, parent: dg.AssetKey, keys: list[str]
) -> list[str]:
    """The partitions of ``parent`` that ``child``'s partitions ``keys`` read (Dagster's mapping)."""
    child_def, parent_def = defs_by_key[child], defs_by_key.get(parent)
    upstream = parent_def.partitions_def if parent_def is not None else None
    if upstream is None:
        return []
    downstream = child_def.partitions_def
    mapping = child_def.get_partition_mapping(parent) or (
        dg.AllPartitionMapping() if downstream is None else dg.IdentityPartitionMapping()
    )
    subset = downstream.subset_with_partition_keys(keys) if downstream is not None and keys else None
    result = mapping.get_upstream_mapped_partitions_result_for_partitions(subset, downstream, upstream)
    return sorted(result.partitions_subset.get_partition_keys())


def schema_fields(asset: str) -> list[tuple[str, str, str | None]] | None:
    """(column, type, description) of the asset's pandera contract, if it has one."""
    from fti_assets.contracts.group_schemas import FEATURE_SCHEMAS
    from fti_assets.contracts.raw_schemas import RAW_SCHEMAS

    schema = RAW_SCHEMAS.get(asset) or FEATURE_SCHEMAS.get(asset)
    if schema is None:
        return None
    return [(name, str(column.dtype), column.description) for name, column in schema.columns.items()]


def _time(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp or 0.0, UTC).isoformat()


def child_run_id(run_id: str, asset: str) -> str:
    """The asset's run id: the same for the same Dagster run, so a resend is the same run."""
    return str(uuid.uuid5(uuid.UUID(run_id), asset))


def build_events(timeline: RunTimeline, defs_by_key: dict, namespace: str) -> list:
    """The run's OpenLineage events in the order they happened: the Dagster job's START, each
    asset's START and COMPLETE (or FAIL), the job's COMPLETE (or FAIL)."""
    import attr
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        RunFacet,
        dataset_version_dataset,
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        parent_run,
        processing_engine_run,
        schema_dataset,
    )
    from openlineage.client.facet_v2 import base_subset_dataset as subset

    @attr.define
    class MlflowRunFacet(RunFacet):
        """The MLflow run and registered model version a training run produced."""

        runId: str | None = None  # noqa: N815
        modelVersion: str | None = None  # noqa: N815
        datasetHash: str | None = None  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return MLFLOW_FACET_SCHEMA

    def partitions(keys: list[str]) -> subset.PartitionSubsetCondition:
        return subset.PartitionSubsetCondition([subset.Partition({"day": k}, k) for k in keys])

    def dataset_facets(asset: str, version: str | None) -> dict:
        facets = {}
        if fields := schema_fields(asset):
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                [schema_dataset.SchemaDatasetFacetFields(n, type=t, description=d) for n, t, d in fields]
            )
        if version:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(version)
        return facets

    engine = processing_engine_run.ProcessingEngineRunFacet(dg.__version__, name="Dagster")
    parent_job = Job(
        namespace, timeline.job_name, {"jobType": job_type_job.JobTypeJobFacet("BATCH", "DAGSTER", "JOB")}
    )
    parent = parent_run.ParentRunFacet(
        parent_run.Run(timeline.run_id),
        parent_run.Job(namespace, timeline.job_name),
        parent_run.Root(
            parent_run.RootRun(timeline.run_id), parent_run.RootJob(namespace, timeline.job_name)
        ),
    )

    def event(state, at: float | None, run: Run, job: Job, inputs=(), outputs=()) -> RunEvent:
        return RunEvent(
            eventType=state,
            eventTime=_time(at),
            run=run,
            job=job,
            inputs=list(inputs),
            outputs=list(outputs),
            producer=PRODUCER,
        )

    events = [
        event(
            RunState.START, timeline.started, Run(timeline.run_id, {"processing_engine": engine}), parent_job
        )
    ]
    for name, part in timeline.assets.items():
        key = dg.AssetKey(name)
        job = Job(namespace, name, {"jobType": job_type_job.JobTypeJobFacet("BATCH", "DAGSTER", "ASSET")})
        meta = part.metadata
        trained_on = meta.get("dataset_hash") if name == "trained_model" else None
        inputs = []
        for upstream in sorted(defs_by_key[key].asset_deps[key], key=lambda k: k.to_user_string()):
            up = upstream.to_user_string()
            keys = upstream_partitions(defs_by_key, key, upstream, part.partitions)
            inputs.append(
                InputDataset(
                    namespace=namespace,
                    name=up,
                    facets=dataset_facets(up, trained_on if up == "training_dataset" else None),
                    inputFacets={"subset": subset.InputSubsetInputDatasetFacet(partitions(keys))}
                    if keys
                    else {},
                )
            )
        version = meta.get("content_hash") if name == "training_dataset" else None
        if name == "trained_model" and meta.get("model_version") is not None:
            version = str(meta["model_version"])
        output_facets = {}
        if part.partitions:
            output_facets["subset"] = subset.OutputSubsetOutputDatasetFacet(partitions(part.partitions))
        if isinstance(meta.get("dagster/row_count"), int):
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=meta["dagster/row_count"]
                )
            )
        outputs = [
            OutputDataset(
                namespace=namespace,
                name=name,
                facets=dataset_facets(name, version),
                outputFacets=output_facets,
            )
        ]
        run_facets = {"parent": parent, "processing_engine": engine}
        if name == "trained_model":
            run_facets["mlflow"] = MlflowRunFacet(
                runId=meta.get("mlflow_run_id"),
                modelVersion=None if meta.get("model_version") is None else str(meta["model_version"]),
                datasetHash=trained_on,
            )
        run_id = child_run_id(timeline.run_id, name)
        events.append(event(RunState.START, part.started, Run(run_id, run_facets), job, inputs, outputs))
        if part.error is not None or part.ended is None:
            message = part.error or "the step did not finish"
            failed = {
                **run_facets,
                "errorMessage": error_message_run.ErrorMessageRunFacet(message[:10_000], "python"),
            }
            events.append(
                event(RunState.FAIL, part.ended or timeline.ended, Run(run_id, failed), job, inputs, outputs)
            )
        else:
            events.append(event(RunState.COMPLETE, part.ended, Run(run_id, run_facets), job, inputs, outputs))
    end_facets = {"processing_engine": engine}
    if timeline.failed:
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            (timeline.error or "run failed")[:10_000], "python"
        )
    state = RunState.FAIL if timeline.failed else RunState.COMPLETE
    events.append(event(state, timeline.ended, Run(timeline.run_id, end_facets), parent_job))
    return events


def emit_run(context, lineage: LineageResource, run: dg.DagsterRun) -> str:
    """Send the run's events; a collector that fails is reported in the run's event log (the
    run is not touched, and the sensor goes on with the next run)."""
    defs_by_key = dict(context.repository_def.assets_defs_by_key)
    known = {k.to_user_string() for k in defs_by_key}
    timeline = read_timeline(context.instance, run, known)
    events = build_events(timeline, defs_by_key, lineage.namespace)
    client = lineage.client()
    sent = 0
    try:
        for event in events:
            client.emit(event)
            sent += 1
    except Exception as exc:  # the transport's own errors vary (requests, httpx, kafka...)
        message = (
            f"OpenLineage: {sent} of {len(events)} events sent, then {type(exc).__name__}: {str(exc)[:300]}"
        )
        context.instance.report_engine_event(message, run, cls=None)
        context.log.error(message)
        return message
    finally:
        client.close(timeout=10)
    return f"OpenLineage: {len(events)} events sent for {len(timeline.assets)} assets"


def build_lineage_sensors(enabled: bool) -> list[dg.SensorDefinition]:
    """Two run-status sensors (each finished run once, across daemon restarts: the sensor's cursor)."""
    status = dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED
    off = "OpenLineage is off: set OPENLINEAGE_URL (or another openlineage-python configuration)"

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="openlineage_on_success",
        monitor_all_code_locations=True,
        minimum_interval_seconds=10,
        default_status=status,
        description="OpenLineage START and COMPLETE events of each successful run and of each asset it materialized.",
    )
    def openlineage_on_success(context: dg.RunStatusSensorContext, lineage: LineageResource):
        if not lineage.enabled:
            return dg.SkipReason(off)
        context.log.info(emit_run(context, lineage, context.dagster_run))

    @dg.run_failure_sensor(
        name="openlineage_on_failure",
        monitor_all_code_locations=True,
        minimum_interval_seconds=10,
        default_status=status,
        description="OpenLineage START and FAIL events of each failed run, with its assets' events.",
    )
    def openlineage_on_failure(context: dg.RunFailureSensorContext, lineage: LineageResource):
        if not lineage.enabled:
            return dg.SkipReason(off)
        context.log.info(emit_run(context, lineage, context.dagster_run))

    return [openlineage_on_success, openlineage_on_failure]
