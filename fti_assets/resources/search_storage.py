"""Where Optuna studies persist."""

import dagster as dg


class SearchStorage(dg.ConfigurableResource):
    """Optuna's RDB storage: SQLite under FTI_HOME, or ``FTI_OPTUNA_STORAGE`` (the production database)."""

    url: str
