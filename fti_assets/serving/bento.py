"""Packaging the champion as a Bento that ``bentoml serve`` runs."""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

SERVICE = "fti_assets.serving.service:FlightDelayService"
RUNTIME_PACKAGES = ("polars", "numpy", "lightgbm", "pydantic")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def stage_sources(target: Path) -> Path:
    """Copy the package's Python sources to a clean build context.

    Building from a staging folder keeps everything else (the model store, data, tests)
    out of the Bento, wherever ``FTI_HOME`` and ``BENTOML_HOME`` live.
    """
    shutil.copytree(PACKAGE_ROOT, target / "fti_assets", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.yaml"))
    return target


def build_bento(model_tag: str, labels: dict[str, str], bento_version: str) -> str:
    """Build the service Bento around ``model_tag`` (in the BentoML store); return its tag."""
    import bentoml

    with tempfile.TemporaryDirectory(prefix="bento-ctx-") as folder:
        context = stage_sources(Path(folder))
        (context / "fti_assets" / "serving" / "packaged.py").write_text(
            f'"""The model this Bento was built around."""\n\nPACKAGED_MODEL = "{model_tag}"\n'
        )
        bento = bentoml.bentos.build(
            SERVICE,
            name="flight_delay_service",
            version=bento_version,
            build_ctx=str(context),
            include=["fti_assets/**/*.py"],
            labels=labels,
            description="Delay probability of scheduled flights from New York (fti-assets).",
            python={"packages": [f"{p}=={version(p)}" for p in RUNTIME_PACKAGES], "lock_packages": False},
        )
    return str(bento.tag)
