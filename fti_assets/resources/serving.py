"""Where the serving side lives, as a resource."""

import dagster as dg


class ServingResource(dg.ConfigurableResource):
    """Where the serving side lives: FTI_HOME (online store, prediction log) and the BentoML store."""

    home: str
    bentoml_home: str
