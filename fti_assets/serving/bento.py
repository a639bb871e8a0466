"""Packaging the champion as a Bento that ``bentoml serve`` runs."""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

SERVICE = "fti_assets.serving.service:FlightDelayService"
RUNTIME_PACKAGES = (
    "polars",
    "numpy",
    "lightgbm",
    "pydantic",
    "pydantic-core",
    "PyYAML",
    "starlette",
    "mlflow",  # the service follows the registry aliases
    "redis",  # the production profile's online store
    "psycopg2-binary",  # the driver of the production registry's PostgreSQL URI, which MLflow loads
)
"""The distributions the Bento installs beside BentoML, at this environment's versions: every one the
service's modules import (``test_bento_environment`` walks their imports) and the PostgreSQL driver."""
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # fti_assets/


def stage_sources(target: Path) -> Path:
    """Copy the package's Python sources to a clean build context.

    Building from a staging folder keeps everything else (the model store, data, tests)
    out of the Bento, wherever ``FTI_HOME`` and ``BENTOML_HOME`` live.
    """
    shutil.copytree(
        PACKAGE_ROOT, target / "fti_assets", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.yaml")
    )
    return target


def write_packaged(
    context: Path, model_tag: str, airports: dict[str, tuple[float, float]] | None = None
) -> None:
    """Name the exact model in the staged sources (the service declares it as its BentoModel),
    and the airports the service checks requests' routes against."""
    known = {code: (round(lat, 6), round(lon, 6)) for code, (lat, lon) in sorted((airports or {}).items())}
    (context / Path(__file__).resolve().with_name("packaged.py").relative_to(PACKAGE_ROOT.parent)).write_text(
        f'"""The model this Bento was built around, and the airports it knows."""\n\n'
        f'PACKAGED_MODEL = "{model_tag}"\nPACKAGED_AIRPORTS: dict[str, tuple[float, float]] = {known!r}\n'
    )


GOVERNANCE = "governance"
"""The Bento's folder of documents that go with the model: model card and SBOM."""


def write_documents(context: Path, documents: dict[str, str]) -> None:
    """Place the model card and SBOM in the build context, where ``include`` picks them up."""
    folder = context / GOVERNANCE
    folder.mkdir(exist_ok=True)
    for name, text in documents.items():
        (folder / Path(name).name).write_text(text)


def build_bento(context: Path, labels: dict[str, str], bento_version: str) -> str:
    """Build the service Bento from the staged sources in ``context``; return its tag.

    This process must import the service from ``context`` (``PYTHONPATH``): the model the
    Bento bundles is the one the staged ``packaged.py`` names, resolved at import.
    """
    import bentoml

    import fti_assets.serving.packaged as packaged
    from fti_assets.serving.schemas import SERVICE_DESCRIPTION

    if not Path(packaged.__file__).resolve().is_relative_to(context.resolve()):
        raise RuntimeError(
            f"the service would be imported from {packaged.__file__}, not the staged sources in {context}"
        )
    bento = bentoml.bentos.build(
        SERVICE,
        name="flight_delay_service",
        version=bento_version,
        build_ctx=str(context),
        include=["fti_assets/**/*.py", f"{GOVERNANCE}/*"],
        labels=labels,
        description=SERVICE_DESCRIPTION,
        python={"packages": [f"{p}=={version(p)}" for p in RUNTIME_PACKAGES], "lock_packages": False},
    )
    bundled = [str(m.tag) for m in bento.info.all_models]
    if bundled != [packaged.PACKAGED_MODEL]:
        raise RuntimeError(f"the Bento bundles {bundled}, not {packaged.PACKAGED_MODEL}")
    return str(bento.tag)


def package(
    context: Path | None,
    model_file: Path,
    spec: dict,
    registry_version: int,
    labels: dict[str, str],
    bento_version: str | None,
) -> dict[str, str | None]:
    """Save the model into the BentoML store and, given a version, build the Bento around it."""
    from fti_assets.serving.model_store import save_serving_model

    model_tag = save_serving_model(model_file, spec, registry_version, labels)
    return {
        "model_tag": model_tag,
        "bento": build_bento(context, labels, bento_version) if bento_version else None,
    }


def package_isolated(
    bentoml_home: Path,
    model_file: Path,
    spec: dict,
    registry_version: int,
    labels: dict[str, str],
    bento_version: str | None,
    documents: dict[str, str] | None = None,
    airports: dict[str, tuple[float, float]] | None = None,
) -> dict[str, str | None]:
    """``package`` in a child process whose ``BENTOML_HOME`` is ``bentoml_home``.

    BentoML fixes its store location when first imported; a child process makes sure the
    model and Bento land in this FTI_HOME's store whatever the parent imported before. The
    child imports the package from staged sources whose ``packaged.py`` names this exact
    model, so the Bento is built from, and bundles, the model it names, and the ``airports``
    (code to coordinates) the service checks routes against; ``documents`` (file name to text)
    go in its ``governance/`` folder.
    """
    import json
    import os
    import subprocess
    import sys

    from fti_assets.serving.model_store import serving_tag

    with tempfile.TemporaryDirectory(prefix="bento-ctx-") as folder:
        context = stage_sources(Path(folder))
        write_packaged(context, serving_tag(registry_version), airports)
        write_documents(context, documents or {})
        request = {
            "context": str(context),
            "model_file": str(model_file),
            "spec": spec,
            "registry_version": registry_version,
            "labels": labels,
            "bento_version": bento_version,
        }
        env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(context), env.get("PYTHONPATH")) if p)
        # `bentoml build` runs uv: make the environment's own copy findable.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        done = subprocess.run(
            [sys.executable, "-m", "fti_assets.serving.bento"],
            input=json.dumps(request),
            env=env,
            cwd=context,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if done.returncode != 0:
        raise RuntimeError(f"packaging the Bento failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import json
    import sys

    args = json.loads(sys.stdin.read())
    result = package(
        Path(args["context"]),
        Path(args["model_file"]),
        args["spec"],
        args["registry_version"],
        args["labels"],
        args["bento_version"],
    )
    print(json.dumps(result))
