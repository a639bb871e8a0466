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

    from fti_assets.serving.schemas import SERVICE_DESCRIPTION

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
            description=SERVICE_DESCRIPTION,
            python={"packages": [f"{p}=={version(p)}" for p in RUNTIME_PACKAGES], "lock_packages": False},
        )
    return str(bento.tag)


def package(model_file: Path, spec: dict, registry_version: int, labels: dict[str, str], bento_version: str | None) -> dict[str, str | None]:
    """Save the model into the BentoML store and, given a version, build the Bento around it."""
    from fti_assets.serving.model_store import save_serving_model

    model_tag = save_serving_model(model_file, spec, registry_version, labels)
    return {"model_tag": model_tag, "bento": build_bento(model_tag, labels, bento_version) if bento_version else None}


def package_isolated(
    bentoml_home: Path, model_file: Path, spec: dict, registry_version: int, labels: dict[str, str], bento_version: str | None
) -> dict[str, str | None]:
    """``package`` in a child process whose ``BENTOML_HOME`` is ``bentoml_home``.

    BentoML fixes its store location when first imported; a child process makes sure the
    model and Bento land in this FTI_HOME's store whatever the parent imported before.
    """
    import json
    import os
    import subprocess
    import sys

    request = {"model_file": str(model_file), "spec": spec, "registry_version": registry_version, "labels": labels, "bento_version": bento_version}
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
    # `bentoml build` runs uv: make the environment's own copy findable.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run([sys.executable, "-m", "fti_assets.serving.bento"], input=json.dumps(request), env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"packaging the Bento failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import json
    import sys

    args = json.loads(sys.stdin.read())
    result = package(Path(args["model_file"]), args["spec"], args["registry_version"], args["labels"], args["bento_version"])
    print(json.dumps(result))
