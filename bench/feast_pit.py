"""Peer benchmark: the project's point-in-time training-set build, done by Feast.

For each spine row and each feature group, Feast's ``get_historical_features`` with its local
(file / dask) offline store picks the group's row with the same keys and the latest
``as_of - ttl <= known_at <= as_of`` (the group's TTL; none for plane attributes); no such row
gives nulls.

Runs in its own virtualenv, never the project's (from the repository root):

    .venv/bin/uv venv --python /root/.pyenv/versions/3.11.7/bin/python3 bench/.work/feast-venv
    .venv/bin/uv pip install --python bench/.work/feast-venv/bin/python -r bench/feast-requirements.txt
    bench/.work/feast-venv/bin/python bench/feast_pit.py --input DIR --output OUT.parquet --repeats 3

The pinned file was made with (feast 0.67.0, the newest release, for CPython 3.11 on Linux):

    echo "feast==0.67.0" | .venv/bin/uv pip compile - --python-version 3.11 \
        --python-platform x86_64-unknown-linux-gnu -o bench/feast-requirements.txt

DIR holds SPINE (--spine, default spine.parquet: row_id, as_of, origin, dest, carrier, tailnum, departure_hour_key),
one <group>.parquet per feature group (keys, known_at, features) and groups.json. The output
holds row_id, every feature and <group>_known_at. stdout gets one JSON line:
{"feast_version", "rows", "seconds" (per repeat, get_historical_features + to_df only), "peak_rss_mb"}.

How Feast is called, and why (the dask store's retrieval, feast/infra/offline_stores/dask.py,
is a left merge of the entity rows with every source row of the same keys, a filter
``known_at <= event_timestamp``, a sort and a drop_duplicates):
* One call per feature group. The filter drops an entity row whose keys match source rows
  that are all later than its event_timestamp (instead of leaving it with nulls), and later
  groups in the same call never see that row again. Per group, rows Feast leaves out are
  rows with no match: they get nulls when the answer is joined back to the spine.
* Each call gets the group's distinct (keys, as_of) pairs: drop_duplicates runs on
  (join keys, event_timestamp), so spine rows sharing them would come back as one row anyway.
  The answer is joined back to every spine row on (keys, as_of).
* Each view's ttl is the group's; a group without one gets ttl=timedelta(0), Feast's "no
  lower bound" (plane_attributes rows are known at 1970-01-01).
* Source rows with a null key are dropped, as the project does (pandas' merge would match a
  null spine key to them). Null-key spine rows then match nothing and get null features.
* --chunk-rows splits each group's entity rows (in as_of order) into several calls: the
  merge holds (entity rows x source rows per key) in memory, e.g. 136 M rows for one month
  of origin_weather.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import feast
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Float32, Float64, Int32, Int64, String, UnixTimestamp

FEAST_TYPES = {
    pa.int64(): Int64,
    pa.int32(): Int32,
    pa.float64(): Float64,
    pa.float32(): Float32,
    pa.string(): String,
    pa.large_string(): String,
}
VALUE_TYPES = {
    pa.int64(): ValueType.INT64,
    pa.int32(): ValueType.INT32,
    pa.string(): ValueType.STRING,
    pa.large_string(): ValueType.STRING,
}


def ttl(group: dict) -> timedelta:
    """The group's TTL; Feast's 0 means none (every row known at or before the event time)."""
    return timedelta(seconds=group["ttl_seconds"] or 0)


def feast_type(t: pa.DataType):
    return UnixTimestamp if pa.types.is_timestamp(t) else FEAST_TYPES[t]


def build_repo(
    input_dir: Path, repo: Path, groups: list[dict], offline_store: str
) -> tuple[FeatureStore, dict[str, list[str]]]:
    """A Feast repo in ``repo``: one entity per key column, one file source and one feature
    view per group; applied to a local registry. Returns the store and each group's refs."""
    (repo / "data").mkdir(parents=True)
    config = RepoConfig(
        project="pit_bench",
        provider="local",
        repo_path=repo,
        registry=str(repo / "data" / "registry.db"),
        online_store={"type": "sqlite", "path": str(repo / "data" / "online.db")},
        offline_store={"type": offline_store},
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    entities: dict[str, Entity] = {}
    views, refs = [], {}
    for g in groups:
        table = pq.read_table(input_dir / f"{g['name']}.parquet")
        for k in g["keys"]:  # source rows with a null key can never match (see the docstring)
            table = table.filter(pc.is_valid(table[k]))
        # known_at doubles as a feature so the joined row's time comes back as <group>_known_at.
        table = table.append_column(f"{g['name']}_known_at", table["known_at"])
        path = repo / "data" / f"{g['name']}.parquet"
        pq.write_table(table, path)
        for k in g["keys"]:
            entities.setdefault(
                k, Entity(name=k, join_keys=[k], value_type=VALUE_TYPES[table.schema.field(k).type])
            )
        features = [*g["features"], f"{g['name']}_known_at"]
        schema = [
            Field(name=c, dtype=feast_type(table.schema.field(c).type)) for c in [*g["keys"], *features]
        ]
        views.append(
            FeatureView(
                name=g["name"],
                entities=[entities[k] for k in g["keys"]],
                ttl=ttl(g),
                schema=schema,
                source=FileSource(name=f"{g['name']}_source", path=str(path), timestamp_field="known_at"),
            )
        )
        refs[g["name"]] = [f"{g['name']}:{f}" for f in features]
    store.apply([*entities.values(), *views])
    return store, refs


def retrieve(
    store: FeatureStore, spine: pd.DataFrame, groups: list[dict], refs: dict, chunk_rows: int, per_group: bool
) -> tuple[pd.DataFrame, float]:
    """Every group's features and known_at for every spine row (in spine order), and the
    seconds spent in get_historical_features + to_df. ``per_group``: the dask store's way (one
    call per group on its distinct (keys, as_of) pairs); else one call on the whole spine."""
    columns, seconds = [spine[["row_id"]]], 0.0
    for batch in [[g] for g in groups] if per_group else [groups]:
        keys = list(dict.fromkeys(k for g in batch for k in g["keys"]))
        on = [*keys, "as_of"] if per_group else ["row_id"]  # how answers map back to spine rows
        entity_df = spine[list(dict.fromkeys([*on, *keys, "as_of"]))].drop_duplicates(on)
        entity_df = entity_df.rename(columns={"as_of": "event_timestamp"})
        n = chunk_rows or len(entity_df)
        parts = []
        for i in range(0, len(entity_df), n):
            t0 = time.perf_counter()
            job = store.get_historical_features(
                entity_df=entity_df.iloc[i : i + n], features=[r for g in batch for r in refs[g["name"]]]
            )
            parts.append(job.to_df())
            seconds += time.perf_counter() - t0
        found = pd.concat(parts, ignore_index=True).rename(columns={"event_timestamp": "as_of"})
        found = found.drop(columns=[c for c in [*keys, "as_of"] if c not in on])
        # Entity rows Feast left out had no row known in time: the left join gives them nulls.
        values = spine[on].merge(found, on=on, how="left", validate="many_to_one")
        columns.append(values.drop(columns=on))
    return pd.concat(columns, axis=1), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, type=Path)
    ap.add_argument("--output", required=True, type=Path)
    ap.add_argument("--spine", default="spine.parquet", help="the spine file in --input")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--chunk-rows",
        type=int,
        default=0,
        help="at most this many entity rows per call (each group's, in as_of order); 0: one call per group",
    )
    ap.add_argument(
        "--offline-store",
        choices=["dask", "duckdb"],
        default="dask",
        help="dask: Feast's default file offline store; duckdb: its DuckDB/ibis one (feast[duckdb])",
    )
    args = ap.parse_args()

    groups = json.loads((args.input / "groups.json").read_text())
    # pyarrow -> pandas gives datetime64[us, UTC] with pytz's UTC, which Feast's dask store
    # takes as is (any other tz object triggers a row-by-row conversion).
    spine = pq.read_table(args.input / args.spine).to_pandas()

    args.input, args.output = args.input.resolve(), args.output.resolve()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="feast_pit_") as tmp:
        os.chdir(tmp)  # DuckDB spills to ./.tmp: keep it in the scratch repo
        store, refs = build_repo(args.input, Path(tmp), groups, args.offline_store)
        seconds, seconds_total = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result, feast_s = retrieve(
                store, spine, groups, refs, args.chunk_rows, args.offline_store == "dask"
            )
            seconds.append(round(feast_s, 3))
            seconds_total.append(round(time.perf_counter() - t0, 3))
        os.chdir(cwd)

    features = [f for g in groups for f in g["features"]]
    audit = [f"{g['name']}_known_at" for g in groups]
    out = result[["row_id", *features, *audit]].sort_values("row_id", kind="stable").reset_index(drop=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), args.output)
    print(
        json.dumps(
            {
                "feast_version": feast.__version__,
                "rows": int(len(out)),
                "seconds": seconds,
                "seconds_total": seconds_total,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "offline_store": args.offline_store,
                "chunk_rows": args.chunk_rows,
            }
        )
    )


if __name__ == "__main__":
    main()
