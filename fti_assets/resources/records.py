"""Small JSON records (model versions, evaluations, promotions) passed between assets."""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from fti_assets.resources.atomic import atomic_write_text


class RecordIOManager(dg.ConfigurableIOManager):
    """Stores a JSON-serializable dict per asset under ``<home>/records/<asset>.json``."""

    home: str

    def _path(self, key: dg.AssetKey) -> Path:
        return Path(self.home) / "records" / f"{key.path[-1]}.json"

    def handle_output(self, context: dg.OutputContext, obj: dict[str, Any]) -> None:
        atomic_write_text(self._path(context.asset_key), json.dumps(obj, indent=2, default=str))

    def load_input(self, context: dg.InputContext) -> dict[str, Any]:
        path = self._path(context.asset_key)
        if not path.exists():
            raise dg.Failure(f"no record for '{context.asset_key.path[-1]}' at {path}: materialize it first")
        return json.loads(path.read_text())


def read_record(home: Path, asset: str) -> dict[str, Any] | None:
    """The last stored record of ``asset`` (None if it was never materialized)."""
    path = Path(home) / "records" / f"{asset}.json"
    return json.loads(path.read_text()) if path.exists() else None
