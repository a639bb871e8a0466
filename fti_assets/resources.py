"""The one place that chooses resources for an environment (local or production)."""

from __future__ import annotations

from typing import Any

from fti_assets.settings import Settings
from fti_assets.storage.io_manager import ParquetIOManager
from fti_assets.storage.offline_store import OfflineStore
from fti_assets.storage.source import RawSource


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources for ``settings.env``.

    ``local`` keeps everything under ``FTI_HOME``. ``production`` is where object storage,
    an MLflow server and a shared online store are configured; the asset code is the same.
    """
    if settings.env not in ("local", "production"):
        raise ValueError(f"FTI_ENV must be 'local' or 'production', not {settings.env!r}")
    store = OfflineStore(home=str(settings.home))
    return {
        "store": store,
        "source": RawSource(location=settings.source),
        "io_manager": ParquetIOManager(store=store),
    }
