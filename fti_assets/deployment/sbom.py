"""A CycloneDX software bill of materials of the Python environment that serves the model.

The service runs in this project's environment (``make serve``), and its Bento pins the same
versions of its runtime packages: the SBOM of ``sys.executable``'s environment is the one
that goes with each registered version and each Bento.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SBOM_NAME = "sbom.cdx.json"


def environment_sbom(python: str = sys.executable) -> dict:
    """The CycloneDX (JSON) SBOM of ``python``'s environment, from ``cyclonedx-py environment``.

    Schema validation is left out: it costs about 20 s per document on two cores, and the
    document comes from CycloneDX's own serializer.
    """
    cli = Path(sys.executable).with_name("cyclonedx-py")
    with tempfile.TemporaryDirectory(prefix="sbom-") as folder:
        target = Path(folder) / SBOM_NAME
        done = subprocess.run(
            [
                str(cli),
                "environment",
                "--of",
                "JSON",
                "--output-reproducible",
                "--no-validate",
                "-o",
                str(target),
                python,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not target.exists():
            raise RuntimeError(
                f"cyclonedx-py could not describe {python}'s environment: {done.stderr[-2000:]}"
            )
        document = json.loads(target.read_text())
    if not document.get("components"):
        raise RuntimeError(f"the SBOM of {python}'s environment lists no components")
    return document


def component_versions(document: dict) -> dict[str, str]:
    """Package name to version, as the SBOM lists them."""
    return {c["name"].lower(): c.get("version", "") for c in document.get("components", [])}
