"""fti-assets: a feature / training / inference ML system as one declarative Dagster asset graph."""

import warnings

# Single-run backfills and tolerant partition mappings are marked beta in Dagster; we rely on
# both, and the warnings would print on every run.
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")
