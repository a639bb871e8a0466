"""One renderer per BENCHMARKS.md section: (rows of the targets table, the section's text)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

Rendered = tuple[list[list[str]], list[str]]
FINDINGS = Path(__file__).resolve().parent / "findings.md"


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], fmt: str = ".3g") -> str:
    """min / median / max; a single value alone."""
    shown = (min(values), med(values), max(values)) if len(values) > 1 else values
    return " / ".join(format(v, fmt) for v in shown)


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rate(rows: int, seconds: list[float]) -> float:
    return rows / med(seconds)


def _equal(scale: dict, key: str) -> str:
    if key not in scale:
        return ""
    diff = scale[key]["differing"]
    return "yes" if not diff and scale[key]["rows"] == scale[key]["peer_rows"] else f"no: {diff}"


def pit(r: dict) -> Rendered:
    text = [
        "## Point-in-time training-set build",
        "",
        "The project's `point_in_time_join` (request-time features and six feature groups, TTLs applied) on the",
        "year's labelled flights, beside one bare DuckDB query of six ASOF joins (same TTLs) and Feast 0.67's",
        "`get_historical_features` (local DuckDB offline store, same feature views and TTLs, in its own virtualenv).",
        "Feast gets the first week of the spine at every scale (the whole year once, at 1x): the project runs the",
        "same week for the ratio. Outputs are compared value by value (every feature and known-at column).",
        "Command: `python -m bench.pit_engines ours|duckdb SCALE REPEATS [slice]`,",
        "`bench/.work/feast-venv/bin/python bench/feast_pit.py --input bench/.work/scale<k> --offline-store duckdb`.",
        "",
        "| scale | spine rows | engine | seconds (min / median / max) | rows/s | peak RSS MB | equal to ours |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    for scale, s in r.items():
        runs = [
            ("ours", s["ours"], ""),
            ("DuckDB ASOF", s["duckdb"], _equal(s, "equal_duckdb")),
            ("ours, week", s["ours_slice"], ""),
            ("Feast, week", s["feast_slice"], _equal(s, "equal_feast_slice")),
        ]
        if "feast_full" in s:
            runs.append(("Feast", s["feast_full"], _equal(s, "equal_feast_full")))
        for name, m, equal in runs:
            text.append(
                f"| {scale}x | {m['rows']:,} | {name} | {spread(m['seconds'])} | "
                f"{rate(m['rows'], m['seconds']):,.0f} | {m['peak_rss_mb']:,.0f} | {equal} |"
            )
        ours_rate = rate(s["ours"]["rows"], s["ours"]["seconds"])
        if scale == "10":
            rows.append(
                [
                    f"PIT build rows/s at {scale}x",
                    f"{ours_rate:,.0f}",
                    f"DuckDB {rate(s['duckdb']['rows'], s['duckdb']['seconds']):,.0f}",
                    f"{ours_rate / rate(s['duckdb']['rows'], s['duckdb']['seconds']):.1f}x",
                    ">= 2,000,000 rows/s",
                    met(ours_rate >= 2e6),
                ]
            )
        speedup = med(s["feast_slice"]["seconds"]) / med(s["ours_slice"]["seconds"])
        rows.append(
            [
                f"PIT build vs Feast at {scale}x (week)",
                f"{med(s['ours_slice']['seconds']):.3f} s",
                f"{med(s['feast_slice']['seconds']):.2f} s",
                f"{speedup:.0f}x faster",
                ">= 20x Feast",
                met(speedup >= 20),
            ]
        )
        if "feast_full" in s:
            full = med(s["feast_full"]["seconds"]) / med(s["ours"]["seconds"])
            rows.append(
                [
                    f"PIT build vs Feast at {scale}x (year)",
                    f"{med(s['ours']['seconds']):.2f} s",
                    f"{med(s['feast_full']['seconds']):.0f} s",
                    f"{full:.0f}x faster",
                    ">= 20x Feast",
                    met(full >= 20),
                ]
            )
    return rows, [*text, ""]


def batch(r: dict) -> Rendered:
    text = [
        "## Batch predictions",
        "",
        "The year's labelled flights scored by a model trained on the scale's data: `bare booster` is",
        "`booster.predict` on a ready float matrix; `scoring step` is the project's `predict_frame` (the",
        "feature frame's model columns, categories as codes, read by LightGBM through Arrow); `batch path` adds",
        "the point-in-time retrieval. The three take turns in each repeat.",
        "Command: `python -m bench.batch SCALE REPEATS`.",
        "",
        "| scale | rows | trees | step | seconds | rows/s |",
        "|---|---|---|---|---|---|",
    ]
    rows = []
    for scale, s in r.items():
        for step in ("bare_booster", "scoring_step", "batch_path"):
            text.append(
                f"| {scale}x | {s['rows']:,} | {s['trees']} | {step.replace('_', ' ')} | {spread(s[step])} "
                f"| {rate(s['rows'], s[step]):,.0f} |"
            )
        ratio, goal = (
            med(s["bare_booster"]) / med(s["scoring_step"]),
            0.9 if scale == "10" else 0.8,
        )  # 10x: the speed-and-scale goal
        rows.append(
            [
                f"batch scoring rows/s at {scale}x",
                f"{rate(s['rows'], s['scoring_step']):,.0f}",
                f"bare booster {rate(s['rows'], s['bare_booster']):,.0f}",
                f"{ratio:.2f}x",
                f">= {goal}x bare booster",
                met(ratio >= goal),
            ]
        )
    return rows, [*text, ""]


def _best_rate(server: dict, p99_limit: float) -> float:
    points = [*server["closed"].values(), *server["open"]]
    ok = [
        p["throughput"] for p in points if "throughput" in p and not p["errors"] and p["p99_ms"] <= p99_limit
    ]
    return max(ok, default=0.0)


def _runs(point: dict, key: str, fmt: str = "g") -> str:
    """min / median / max of a load point's runs (its one figure when it ran once)."""
    return spread([r[key] for r in point.get("runs", [point])], fmt)


def _at(server: dict, rate_: int) -> dict | None:
    return next((p for p in server["open"] if p.get("rate") == rate_ and "p50_ms" in p), None)


def serving(r: dict) -> Rendered:
    text = [
        "## Online serving",
        "",
        "POST /predict with one real flight per request, through `bentoml serve` (one worker per core) and through a",
        "minimal FastAPI app on uvicorn (same workers, same predictor path, same online store), driven by",
        "`bench/loadgen.py` on loopback: a closed loop at 1 and 8 connections, then an open-loop sweep "
        "(latency counted",
        "from each request's scheduled start). The load generator shares the two cores with the server.",
        f"Both servers gave the same answers: {r.get('same_answers')}. Command: `python -m bench.serving HOME`.",
        f"Each load point ran {r.get('repeats', 1)} time(s) for {r['seconds']:g} s; figures are min / "
        "median / max of the runs.",
        "",
        "| server | load | requests/s | p50 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    # bare_bentoml: bench/bare_bento.py, a constant answer: the framework's own floor.
    for name in [n for n in ("bentoml", "fastapi", "bare_bentoml") if n in r]:
        s = r[name]
        for load, p in s["closed"].items():
            text.append(
                f"| {name} | closed, {load[1:]} connection(s) | {_runs(p, 'throughput', ',.0f')} | "
                f"{_runs(p, 'p50_ms')} | {_runs(p, 'p99_ms')} | {p['max_ms']} | {p['errors']} |"
            )
        for p in s["open"]:
            if "p50_ms" in p:
                text.append(
                    f"| {name} | open, {p['rate']}/s | {_runs(p, 'throughput', ',.0f')} | "
                    f"{_runs(p, 'p50_ms')} | {_runs(p, 'p99_ms')} | {p['max_ms']} | {p['errors']} |"
                )
            else:
                text.append(f"| {name} | open, {p['rate']}/s | failed: {p.get('failed', '')} | | | | |")
    bare = r["bare_lightgbm"]
    text += [
        "",
        f"Floor, bare LightGBM `predict` on one ready row ({bare['calls']:,} calls): p50 {bare['p50_ms']} ms, "
        f"p99 {bare['p99_ms']} ms, {bare['calls_per_s']:,} calls/s.",
        "The flight under load was read as of its prediction time; its flags: "
        f"{r['bentoml'].get('load_flags', 'unrecorded')}.",
        "",
    ]
    if floor := r.get("bare_bentoml"):
        f100 = _at(floor, 100)
        text += [
            "Floor, bare BentoML (`bench/bare_bento.py`, a constant answer, `bentoml serve` like ours): "
            + (f"p50 {f100['p50_ms']} ms, p99 {f100['p99_ms']} ms at 100 req/s; " if f100 else "")
            + f"{_best_rate(floor, 50):,.0f} req/s at p99 <= 50 ms.",
            "",
        ]
    ours, peer = r["bentoml"], r["fastapi"]
    rows = []
    a, b = _at(ours, 100), _at(peer, 100)
    if a and b:
        rows.append(
            [
                "serving p50 at 100 req/s",
                f"{a['p50_ms']} ms",
                f"FastAPI {b['p50_ms']} ms",
                f"{a['p50_ms'] / b['p50_ms']:.2f}x",
                "<= 1 ms",
                met(a["p50_ms"] <= 1),
            ]
        )
        rows.append(
            [
                "serving p99 at 100 req/s",
                f"{a['p99_ms']} ms",
                f"FastAPI {b['p99_ms']} ms",
                f"{a['p99_ms'] / b['p99_ms']:.2f}x",
                "<= 3 ms",
                met(a["p99_ms"] <= 3),
            ]
        )
    x, y = _best_rate(ours, 50), _best_rate(peer, 50)
    rows.append(
        [
            "serving throughput, p99 <= 50 ms",
            f"{x:,.0f} req/s",
            f"FastAPI {y:,.0f} req/s",
            f"{x / y:.2f}x" if y else "-",
            ">= 2000 req/s",
            met(x >= 2000),
        ]
    )
    return rows, text


def orchestration(r: dict) -> Rendered:
    imp, demo, plain = r["import"], r["demo"], r["plain"]
    rows = [
        [
            "code-location import",
            f"{med(imp['definitions']):.2f} s",
            f"`import dagster` {med(imp['dagster']):.2f} s",
            f"{med(imp['definitions']) / med(imp['dagster']):.2f}x",
            "<= 3 s",
            met(med(imp["definitions"]) <= 3),
        ]
    ]
    overhead = demo["wall"] / plain["wall"] - 1
    rows.append(
        [
            "full-year `fti demo` on SQLite",
            f"{demo['wall']:.0f} s",
            f"plain script {plain['wall']:.0f} s",
            f"{demo['wall'] / plain['wall']:.2f}x ({overhead:+.0%})",
            "overhead <= 25%",
            met(overhead <= 0.25),
        ]
    )
    young, old = r["day_30"]["seconds"], r["day_365"]["seconds"]
    ratio = med(old) / med(young)
    rows.append(
        [
            "one new day, day 365 vs day 30",
            f"{med(old):.1f} s",
            f"day 30: {med(young):.1f} s",
            f"{ratio:.2f}",
            "<= 1.2",
            met(ratio <= 1.2),
        ]
    )
    text = [
        "## Orchestration",
        "",
        "Import of the code location (`import fti_assets.definitions`, fresh interpreter, "
        f"{len(imp['definitions'])} runs):",
        f"{spread(imp['definitions'])} s; `import dagster` alone: {spread(imp['dagster'])} s.",
        "",
        "Full-year `fti demo` (features, training, inference on 2013, monitoring of the last 14 days) took "
        f"{demo['wall']:.0f} s",
        f"wall, {demo['steps_total']:.0f} s of it inside steps. `python -m bench.plain HOME` calls the same "
        "functions the",
        f"assets call, without Dagster, and writes the same store: {plain['wall']:.0f} s wall, "
        f"{plain['total']:.0f} s after its imports. Per step (seconds):",
        "",
        "| step | in Dagster | plain script |",
        "|---|---|---|",
    ]
    names = list(dict.fromkeys([*plain["steps"], *demo["steps"]]))
    text += [f"| {n} | {demo['steps'].get(n, '')} | {plain['steps'].get(n, '')} |" for n in names]
    text += [
        "",
        "One day through the daily pipeline (features, online refresh, batch predictions, monitoring), each run in its",
        f"own process after a warm-up run there, the two days alternating ({len(young)} times): day 30 of a "
        "30-day demo",
        f"{spread(young)} s; day 365 of the full year {spread(old)} s.",
        "Command: `python -m bench.orchestration import|demo|day ...`.",
        "",
    ]
    return rows, text


def storage(r: dict) -> Rendered:
    fast, stock = r["accelerated"], r["stock"]
    walls = {k: [d["wall"] for d in r[k]["demo"]] for k in ("accelerated", "stock")}
    demo_ratio, day_ratio = (
        med(walls["stock"]) / med(walls["accelerated"]),
        med(stock["day"]) / med(fast["day"]),
    )
    rows = [
        [
            "full-year `fti demo`, accelerated storage",
            f"{med(walls['accelerated']):.0f} s",
            f"stock storage {med(walls['stock']):.0f} s",
            f"{demo_ratio:.2f}x faster",
            "",
            "",
        ],
        [
            "one new day (365), accelerated storage",
            f"{med(fast['day']):.1f} s",
            f"stock storage {med(stock['day']):.1f} s",
            f"{day_ratio:.2f}x faster",
            "",
            "",
        ],
    ]
    text = [
        "## Instance storage",
        "",
        "The local Dagster instance on Dagster's stock SQLite storage (`FTI_STORAGE_ACCELERATOR=0`) and on the",
        "project's storage accelerator (`fti_assets/platform/storage_accelerator.py`, the default), the same code",
        f"otherwise. The full-year `fti demo` on each, alternating ({len(walls['stock'])} runs each), then one",
        "new day (2013-12-31) with each on the same home (the stock demo's), alternating",
        f"({len(stock['day'])} runs each, after a warm-up run in the same process).",
        "",
        "| storage | demo wall s | inside steps s | one new day s |",
        "|---|---|---|---|",
    ]
    for name, label in (("stock", "Dagster's stock SQLite"), ("accelerated", "accelerator")):
        steps = [d["steps_total"] for d in r[name]["demo"]]
        text.append(
            f"| {label} | {spread(walls[name], '.0f')} | {spread(steps, '.0f')} | {spread(r[name]['day'])} |"
        )
    text += [
        "",
        f"Ratios (medians): the demo {demo_ratio:.2f}x, one new day {day_ratio:.2f}x, stock against accelerated.",
        "",
        "One run of raw and feature assets (flights, schedules, weather, airports, flight_schedule, origin_weather)",
        "over the window, in process, on a new instance each (a new database on PostgreSQL):",
        "",
        "| instance | window | stock s | accelerated s | ratio | connections stock / accelerated |",
        "|---|---|---|---|---|---|",
    ]
    for run in r.get("runs", []):
        a, s = med([x["wall"] for x in run["accelerated"]]), med([x["wall"] for x in run["stock"]])
        links = (
            f"{run['stock'][0]['connections']:,} / {run['accelerated'][0]['connections']:,}"
            if "connections" in run["stock"][0]
            else ""
        )
        text.append(
            f"| {run['profile']} | {' to '.join(run['window'])} | {s:.0f} | {a:.0f} | {s / a:.2f}x | {links} |"
        )
    text += [
        "",
        "Command: `python -m bench.run storage`; `python -m bench.storage_runs sqlite|postgres START END ROUNDS`.",
        "",
    ]
    return rows, text


def drift(r: dict) -> Rendered:
    ratio = med(r["report"]) / med(r["scipy"])
    rows = [
        [
            "drift report, one day",
            f"{med(r['report']):.2f} s",
            f"SciPy {med(r['scipy']):.2f} s",
            f"{ratio:.1f}x",
            "<= 3 s",
            met(med(r["report"]) <= 3),
        ]
    ]
    text = [
        "## Drift report",
        "",
        f"Feature drift of the trailing week ending {r['day']} ({r['current_rows']:,} rows, {r['columns']} "
        "columns) against the",
        f"training reference ({r['reference_rows']:,} rows) with SciPy's distances (Evidently's definitions): "
        f"{spread(r['report'])} s. Days with an HTML",
        f"file add Evidently's report with its plots, {spread(r['snapshot'])} s, and the file, {spread(r['html'])} s.",
        f"The same distances in a bare SciPy loop: {spread(r['scipy'])} s "
        f"(largest score difference {r['max_score_gap']}).",
        "Command: `python -m bench.drift HOME DAY REPEATS`.",
        "",
    ]
    return rows, text


def production(r: dict) -> Rendered:
    pg, lite, plain, s = r["postgres_demo"], r["sqlite_demo"], r["plain"], r["serving"]
    overhead = pg["wall"] / plain["wall"] - 1
    rows = [
        [
            "full-year `fti demo` on PostgreSQL",
            f"{pg['wall']:.0f} s",
            f"plain script {plain['wall']:.0f} s",
            f"{pg['wall'] / plain['wall']:.2f}x ({overhead:+.0%})",
            "overhead <= 25%",
            met(overhead <= 0.25),
        ],
        [
            "`/predict` p99 at 100 req/s, Redis",
            f"{s['redis']['p99_ms']:.1f} ms",
            f"SQLite {s['sqlite']['p99_ms']:.1f} ms",
            f"{s['redis']['p99_ms'] / s['sqlite']['p99_ms']:.2f}x",
            "",
            "",
        ],
        [
            "throughput, two replicas vs one",
            f"{s['two_replicas']['throughput']:,.0f} req/s",
            f"one: {s['one_replica']['throughput']:,.0f} req/s",
            f"{s['two_replicas']['throughput'] / s['one_replica']['throughput']:.2f}x",
            "",
            "",
        ],
    ]
    text = [
        "## Production profile",
        "",
        "The full-year `fti demo` three ways in one run: Dagster's instance and MLflow on PostgreSQL with the online",
        "store on Redis (`FTI_ENV=production`, new databases), the embedded default on SQLite, and the plain script",
        "(the same functions without Dagster).",
        "",
        "| run | wall s | inside steps s | vs plain script |",
        "|---|---|---|---|",
        f"| PostgreSQL + Redis | {spread(pg.get('walls', [pg['wall']]), '.0f')} | {pg['steps_total']:.0f} | "
        f"{pg['wall'] / plain['wall'] - 1:+.0%} |",
        f"| SQLite | {lite['wall']:.0f} | {lite['steps_total']:.0f} | {lite['wall'] / plain['wall'] - 1:+.0%} |",
        f"| plain script | {spread(plain.get('walls', [plain['wall']]), '.0f')} | {plain['total']:.0f} "
        "(after imports) | |",
        "",
        "Wall times are min / median / max where a run was repeated (alternating with its peer); the ratios use",
        "the medians, and the inside-steps figure is the median run's.",
        "",
        "`bentoml serve` of the SQLite demo's champion, one real flight per request, open loop at "
        f"{s['rate']} req/s for",
        f"{s['seconds']:.0f} s (load average {s['loadavg_1m']:.1f} at the start); the Redis server holds "
        "the same refresh",
        "(answers identical: "
        f"{'yes' if not s['differing_fields'] else '**no**, differing in ' + ', '.join(s['differing_fields'])}).",
        "",
        "| online store | p50 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|",
    ]
    for name in ("sqlite", "redis"):
        m = s[name]
        text.append(f"| {name} | {m['p50_ms']} | {m['p99_ms']} | {m['max_ms']} | {m['errors']} |")
    text += [
        "",
        f"Replicas on Redis, closed loops with {s['one_replica']['connections']} connections in all, split evenly:",
        "",
        "| replicas | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    for m in (s["one_replica"], s["two_replicas"]):
        text.append(
            f"| {m['replicas']} | {m['throughput']:,.0f} | {m['p50_ms']} | {m['p99_ms']} | {m['errors']} |"
        )
    text += [
        "",
        "Every replica runs one worker per core on the same two cores as the load generator: a second",
        "replica adds processes, not cores. Command: `python -m bench.production demo|serving HOME`.",
        "",
    ]
    return rows, text


def pieces(r: dict) -> Rendered:
    text = [
        "## Point-in-time build in monthly pieces",
        "",
        "The join `training_dataset` runs: month by month (`training.pieces.build_pieces`), each month reading only",
        "the feature rows its TTLs can reach and written to its own Parquet file, beside the bare DuckDB ASOF",
        "query over the whole year (up to 10x: at 30x it needs about 23 GB of the machine's 24). Peak RSS is the build",
        "process's. Outputs are compared value by value.",
        "Command: `python -m bench.pit_engines pieced|duckdb SCALE REPEATS`; section: `python -m bench.run pieces`.",
        "",
        "| scale | rows | engine | seconds (min / median / max) | rows/s | peak RSS MB | equal |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    for scale, s in r.items():
        for name, m, equal in (
            ("pieced", s["pieced"], ""),
            ("DuckDB ASOF", s.get("duckdb"), _equal(s, "equal_duckdb")),
        ):
            if m is None:  # too large for the machine: the reason is recorded instead
                text.append(f"| {scale}x | | {name} | not run: {s['duckdb_skipped']} | | | |")
                continue
            text.append(
                f"| {scale}x | {m['rows']:,} | {name} | {spread(m['seconds'])} | "
                f"{rate(m['rows'], m['seconds']):,.0f} | {m['peak_rss_mb']:,.0f} | {equal} |"
            )
        if scale == "30":
            rss = s["pieced"]["peak_rss_mb"]
            peer = (
                f"DuckDB {s['duckdb']['peak_rss_mb']:,.0f} MB"
                if "duckdb" in s
                else "DuckDB not run (about 23 GB)"
            )
            rows.append(
                [
                    "pieced PIT build peak RSS at 30x",
                    f"{rss:,.0f} MB",
                    peer,
                    "",
                    "<= 4,096 MB",
                    met(rss <= 4096),
                ]
            )
        if scale == "100":
            rss = s["pieced"]["peak_rss_mb"]
            rows.append(
                [
                    "pieced PIT build at 100x",
                    f"{rss:,.0f} MB peak",
                    "DuckDB not run",
                    "",
                    "builds in 24 GB",
                    met(rss < 24 * 1024),
                ]
            )
    return rows, [*text, ""]


def restatements(r: dict) -> Rendered:
    text = [
        "## Versions: store growth and the point-in-time build under restatements",
        "",
        "The scale's six feature tables with a share of each table's rows restated (the first feature moved by one),",
        "each learnt at the first midnight of the month after it was known (14 ingestion instants: one a month, the",
        "static plane table's on 2013-01-01 and December's on 2014-01-01).",
        "Both versions are stored, as `domain.versions.merge_ingest` stores them. `point_in_time_join` over the",
        "year's spine on today's tables (no version columns) and on the versioned ones, alternating; rows predicted",
        "before the first instant must come out identical. Command: `python -m bench.restatements SCALE "
        "SHARE REPEATS`.",
        "",
        "| scale | restated | instants | rows today / versioned | zstd bytes today / versioned | PIT today "
        "s (min / median / max) | PIT versioned s | ratio | identical before the first instant |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for m in r.values():
        today, versioned = m["seconds"]["today"], m["seconds"]["versioned"]
        ratio = med(versioned) / med(today)
        growth = m["bytes"]["versioned"] / m["bytes"]["plain"]
        text.append(
            f"| {m['scale']}x | {m['share']:.0%} | {m['instants']} | {m['rows']['plain']:,} / "
            f"{m['rows']['versioned']:,} "
            f"| {m['bytes']['plain'] / 1e6:,.1f} MB / {m['bytes']['versioned'] / 1e6:,.1f} MB (x{growth:.2f}) "
            f"| {spread(today)} | {spread(versioned)} | {ratio:.2f}x | {met(m['equal_before_first_instant'])} |"
        )
        rows.append(
            [
                f"PIT build with versions, {m['share']:.0%} restated, {m['scale']}x",
                f"{med(versioned):.3g} s",
                f"today's build {med(today):.3g} s",
                f"{ratio:.2f}x",
                "",
                "",
            ]
        )
    return rows, [*text, ""]


def stream(r: dict) -> Rendered:
    t, f = r["throughput"], r["freshness"]
    ratio = t["applied"]["events_per_second"] / t["read_and_acked"]["events_per_second"]
    text = [
        "## The feature stream: consumer throughput and event-to-online freshness",
        "",
        f"The {r['events']:,} events of {r['day']} from the demo's offline store (outcomes, weather reports,",
        "published schedules). Throughput: appended to a fresh Redis stream, then consumed by one `Consumer`",
        "into a fresh SQLite online store; its peer reads and acknowledges the same messages with nothing",
        f"applied. Freshness: `fti stream consume` running while the day is replayed at {f['speed']:g} times real",
        "time; per event, the seconds from its append to the first read of the online store that sees it",
        f"(the service reads that store). Load average at the start: {r['loadavg_1m']:.1f}.",
        "Command: `python -m bench.stream HOME DAY SPEED`.",
        "",
        "| measure | ours | peer | ratio |",
        "|---|---|---|---|",
        f"| consumer throughput | {t['applied']['events_per_second']:,.0f} events/s (applied) "
        f"| {t['read_and_acked']['events_per_second']:,.0f} events/s (read and acked only) | {ratio:.2f}x |",
        f"| freshness p50 / p99 / max | {f['p50_seconds']:.3f} / {f['p99_seconds']:.3f} / {f['max_seconds']:.3f} s "
        f"| goal p99 <= 1 s | {met(f['p99_seconds'] <= 1.0)} |",
        "",
    ]
    rows = [
        [
            "Event to online store, p99",
            f"{f['p99_seconds']:.3f} s",
            "goal 1 s",
            met(f["p99_seconds"] <= 1.0),
            "",
            "",
        ],
        [
            "Stream consumer throughput",
            f"{t['applied']['events_per_second']:,.0f} events/s",
            f"Redis read+ack {t['read_and_acked']['events_per_second']:,.0f}/s",
            f"{ratio:.2f}x",
            "",
            "",
        ],
    ]
    return rows, text


def celery(r: dict) -> Rendered:
    runs = {(run["executor"], run["workers"]): run for run in r["runs"]}
    mp, one, two = runs[("multiprocess", 0)], runs[("celery", 1)], runs[("celery", 2)]
    text = [
        "## Steps on Celery workers",
        "",
        f"The feature backfill of {r['start']}..{r['end']} (`feature_pipeline`, one run) and then the training dataset",
        "in its monthly pieces, three ways on the production profile (PostgreSQL, Redis; new databases, Redis",
        "prefix and RabbitMQ virtual host each): Dagster's multiprocess executor, and `FTI_EXECUTOR=celery` with one",
        f"and with two `fti worker` processes, all on the same {r['cores']} cores. Start-up per step runs from the",
        "moment a process takes the step (the multiprocess executor launching its subprocess, a worker taking the",
        "task) to the step's start; under Celery a step first waits in the broker's queue until a worker is free",
        "(queued). Workers start, and import the code location, before the runs: once per worker, not in the",
        "wall times. Command: `python -m bench.celery HOME`; section: `python -m bench.run celery`.",
        "",
        "| executor | run | steps | wall s | inside steps s | start-up per step s (median) | start-up s (all steps) "
        "| queued s (all steps) | tables equal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run in (("multiprocess", mp), ("Celery, 1 worker", one), ("Celery, 2 workers", two)):
        equal = "reference" if run is mp else ("yes" if run["tables_equal"] else "**no**")
        for part in ("features", "dataset"):
            m = run[part]
            text.append(
                f"| {label} | {part} | {m['steps']} | {m['wall_s']:.0f} | {m['inside_s']:.0f} | "
                f"{m['startup_median_s']:.2f} | {m['startup_total_s']:.0f} | {m['queued_total_s']:.0f} | {equal} |"
            )
    text += [
        "",
        "A second worker on the same two cores adds processes, not cores: the figure that carries over to a",
        "cluster is the cost per step. A worker keeps its code location imported between steps, while the",
        "multiprocess executor starts a new interpreter for each; on a cluster each worker brings its own cores.",
        "",
    ]
    steps = mp["features"]["steps"] + mp["dataset"]["steps"]
    walls = {k: run["features"]["wall_s"] + run["dataset"]["wall_s"] for k, run in runs.items()}
    rows = [
        [
            "start-up per step, Celery worker",
            f"{one['features']['startup_median_s']:.2f} s",
            f"multiprocess {mp['features']['startup_median_s']:.2f} s",
            f"{one['features']['startup_median_s'] / mp['features']['startup_median_s']:.2f}x",
            "",
            "",
        ],
        [
            f"backfill + dataset, 2 workers ({steps} steps)",
            f"{walls[('celery', 2)]:.0f} s",
            f"multiprocess {walls[('multiprocess', 0)]:.0f} s",
            f"{(walls[('celery', 2)] - walls[('multiprocess', 0)]) / steps:+.1f} s per step",
            "",
            "",
        ],
    ]
    return rows, text


SECTIONS: dict[str, Callable[[dict], Rendered]] = {
    "pit": pit,
    "batch": batch,
    "serving": serving,
    "stream": stream,
    "orchestration": orchestration,
    "storage": storage,
    "drift": drift,
    "production": production,
    "pieces": pieces,
    "restatements": restatements,
    "celery": celery,
}
