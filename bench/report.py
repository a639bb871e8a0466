"""BENCHMARKS.md from ``bench/.work/results.json``: machine, versions, commands, figures, ratios."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.sections import FINDINGS, SECTIONS

PACKAGES = (
    "dagster",
    "polars",
    "duckdb",
    "lightgbm",
    "mlflow",
    "evidently",
    "bentoml",
    "fastapi",
    "uvicorn",
    "pandera",
)


def machine() -> list[str]:
    cpu = subprocess.run(
        ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True
    ).stdout.strip()
    memory = subprocess.run(
        ["sh", "-c", "grep MemTotal /proc/meminfo | awk '{print $2}'"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- CPU: {cpu or platform.processor()}, {len(__import__('os').sched_getaffinity(0))} cores",
        f"- Memory: {int(memory) / 1024 / 1024:.0f} GiB" if memory else "- Memory: unknown",
        f"- OS: {platform.platform()}; Python {sys.version.split()[0]}",
        "- Versions: " + ", ".join(f"{p} {version(p)}" for p in PACKAGES),
    ]


def write_report(results: dict, path: Path) -> Path:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d}, every figure beside a peer measured in "
        "the same run,",
        "on this machine (each benchmark in its own process, one at a time). Figures are min / median / max over",
        "the repeats stated; ratios use medians. `make bench` reruns everything (about half an hour);",
        "`.venv/bin/python -m bench.run SECTION` reruns one section (orchestration, drift, serving, batch, "
        "pit, restatements, storage,",
        "production) and rewrites this file from `bench/.work/results.json`.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
    ]
    summary: list[list[str]] = []
    body: list[str] = []
    for name, render in SECTIONS.items():
        if name in results:
            rows, text = render(results[name])
            summary += rows
            body += text
    lines += [
        "## Targets",
        "",
        "| figure | ours | peer | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in summary]
    lines += ["", *body]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text()]
    path.write_text("\n".join(lines) + "\n")
    return path
