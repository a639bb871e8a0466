"""Batch scoring: the project's path against the bare LightGBM booster on the same rows.

``python -m bench.batch SCALE REPEATS`` trains a model on the scale's training split once,
then times (a) ``booster.predict`` on a ready float matrix (the floor), (b) the project's
scoring step (the feature frame's model columns, read by LightGBM through Arrow) and (c) the
whole batch path including the point-in-time retrieval, taking turns in each repeat. Prints
one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import polars as pl

from bench.prepare import project_tables, scale_dir


def main() -> None:
    from fti_assets.domain.retrieval import assign_split, point_in_time_join
    from fti_assets.inference.batch_predictions import predict_frame, score
    from fti_assets.training.trainer import lightgbm_params, train_booster

    scale, repeats = int(sys.argv[1]), int(sys.argv[2])
    folder = scale_dir(scale)
    spine = pl.read_parquet(folder / "spine_full.parquet")
    tables = project_tables(folder)
    frame = assign_split(
        point_in_time_join(spine, tables), datetime(2013, 9, 1, tzinfo=UTC), datetime(2013, 10, 1, tzinfo=UTC)
    )
    train = frame.filter(pl.col("split") == "train").sample(fraction=0.3, seed=0)
    fitted = train_booster(
        train, frame.filter(pl.col("split") == "validation"), lightgbm_params({}, 42), 300, 30
    )
    booster, spec = fitted.booster, fitted.spec
    matrix = spec.encode(frame)

    steps = {
        "bare_booster": lambda: booster.predict(matrix, num_threads=2),
        "scoring_step": lambda: predict_frame(frame, booster, spec),
        "batch_path": lambda: score(spine, tables, booster, spec),
    }
    # The steps take turns within each repeat, so that a slower moment of a shared machine
    # falls on all of them rather than on one step's repeats.
    result: dict = {"rows": frame.height, "trees": booster.num_trees(), **{name: [] for name in steps}}
    for _ in range(repeats):
        for name, run in steps.items():
            start = time.perf_counter()
            run()
            result[name].append(time.perf_counter() - start)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
