"""The ``fti`` command line."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fti", description="fti-assets: an FTI ML system as one Dagster asset graph."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the whole loop on the embedded data, headless")
    demo.add_argument("--start", type=_day, default=date(2013, 1, 1), help="first day (default 2013-01-01)")
    demo.add_argument("--end", type=_day, default=date(2013, 12, 31), help="last day (default 2013-12-31)")
    back = commands.add_parser("rollback", help="move the champion back to the previous version")
    back.add_argument("--reason", default="manual rollback", help="why, recorded in the registry")
    models = commands.add_parser("models", help="list model versions with metrics and aliases")
    models.add_argument(
        "--history", action="store_true", help="every promotion, rollback and refusal: who, what, when, why"
    )
    models.add_argument(
        "--reports", action="store_true", help="with --history: each event's gate report or evidence"
    )
    commands.add_parser("bento", help="print the exact tag of the champion's Bento (what make serve runs)")
    serve = commands.add_parser(
        "serve", help="bentoml serve the champion's Bento, refusing a port that is already taken"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    again = commands.add_parser(
        "reproduce", help="rebuild a version's dataset, retrain it and compare its test predictions"
    )
    again.add_argument("version", type=int, help="the registered model version")
    stream = commands.add_parser(
        "stream", help="the feature stream: consume it into the online store, or publish"
    )
    verbs = stream.add_subparsers(dest="verb", required=True)
    consume = verbs.add_parser("consume", help="apply the stream's events to the online store until stopped")
    consume.add_argument("--name", default=None, help="this consumer's name in the group (default host-pid)")
    consume.add_argument("--batch", type=int, default=500, help="events read per batch")
    publish = verbs.add_parser("publish", help="publish the offline store's events of a period to the stream")
    publish.add_argument("--start", type=_day, required=True)
    publish.add_argument("--end", type=_day, required=True)
    publish.add_argument(
        "--speed", type=float, default=0.0, help="times real time (default: as fast as possible)"
    )
    replay = commands.add_parser("replay", help="simulate a period day by day: drift, retraining, promotions")
    replay.add_argument("--start", type=_day, default=date(2013, 1, 1))
    replay.add_argument("--end", type=_day, default=date(2013, 12, 31))
    replay.add_argument(
        "--train-until", type=_day, default=date(2013, 3, 31), help="the first model's data ends here"
    )
    replay.add_argument(
        "--shift-from", type=_day, default=None, help="inject a shift in the source from this day on"
    )
    worker = commands.add_parser(
        "worker", help="execute steps of Dagster runs taken from the Celery broker (FTI_EXECUTOR=celery)"
    )
    worker.add_argument("--name", default=None, help="the worker's name, before @host (default fti-<pid>)")
    worker.add_argument(
        "--concurrency", type=int, default=1, help="steps at once (default 1: a step may use every core)"
    )
    worker.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from fti_assets.commands.demo import Window, run_demo

        if args.end < args.start:
            parser.error(f"--end {args.end} is before --start {args.start}")
        return 0 if run_demo(Window(args.start, args.end)) else 1
    if args.command == "worker":
        import os

        from fti_assets.platform.celery import require_production, run_worker
        from fti_assets.settings import Settings

        if args.concurrency < 1:
            parser.error("--concurrency must be at least 1")
        try:  # the settings a worker cannot run with are refused before it joins the broker
            settings = Settings.from_env()
            require_production(settings)
            mlflow = settings.tracking_uri.split("@")[-1]
        except ValueError as exc:
            parser.error(str(exc))
        name = args.name or f"fti-{os.getpid()}"
        print(
            f"worker {name}: broker {settings.celery_broker.split('@')[-1]}, FTI_HOME {settings.home}, "
            f"source {settings.source}, MLflow {mlflow}",
            flush=True,
        )
        run_worker(settings, name, args.concurrency, args.loglevel)
        return 0
    if args.command == "rollback":
        from fti_assets.commands.operations import rollback

        return 0 if rollback(args.reason) else 1
    if args.command == "replay":
        from fti_assets.commands.replay import replay_command

        if not args.start < args.train_until < args.end:
            parser.error("need --start < --train-until < --end")
        return replay_command(args.start, args.end, args.train_until, args.shift_from)
    if args.command == "reproduce":
        from fti_assets.training.reproduce import reproduce_command

        return reproduce_command(args.version)
    if args.command == "models":
        from fti_assets.commands.operations import history_table, model_table

        print(history_table(reports=args.reports) if args.history else model_table())
        return 0
    if args.command == "stream":
        from fti_assets.commands import streaming

        if args.verb == "consume":
            return streaming.consume(args.name, args.batch)
        if args.end < args.start:
            parser.error(f"--end {args.end} is before --start {args.start}")
        return streaming.publish(args.start, args.end, args.speed)
    if args.command == "bento":
        from fti_assets.commands.operations import champion_bento

        tag = champion_bento()
        if tag is None:
            print(
                "no champion Bento yet: run fti demo (or materialize champion_model and flight_delay_bento)",
                file=sys.stderr,
            )
            return 1
        print(tag)
        return 0
    if args.command == "serve":
        from fti_assets.commands.operations import champion_bento, port_taken

        tag = champion_bento()
        if tag is None:
            print(
                "no champion Bento yet: run fti demo (or materialize champion_model and flight_delay_bento)",
                file=sys.stderr,
            )
            return 1
        if taken := port_taken(args.host, args.port):
            print(
                f"cannot serve on {args.host}:{args.port}: {taken}; stop it or choose another PORT",
                file=sys.stderr,
            )
            return 1
        print(f"serving {tag} on http://{args.host}:{args.port}", flush=True)
        # Replaced by the server: it keeps this process's id and group, so stopping `make serve` stops it.
        bentoml = str(Path(sys.executable).parent / "bentoml")
        os.execv(bentoml, [bentoml, "serve", tag, "--host", args.host, "--port", str(args.port)])
    return 2


if __name__ == "__main__":
    sys.exit(main())
