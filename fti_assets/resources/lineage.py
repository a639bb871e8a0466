"""Where lineage goes: openlineage-python's own configuration, and the namespace of the events."""

from __future__ import annotations

import dagster as dg


class LineageResource(dg.ConfigurableResource):
    """OpenLineage events of every finished run. The transport is openlineage-python's standard
    configuration (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``openlineage.yml``, ...): Marquez
    or any compliant collector. Off (``enabled: false``) when none is present."""

    enabled: bool = False
    namespace: str = "fti_assets"
    """The jobs' and datasets' namespace (``OPENLINEAGE_NAMESPACE``)."""

    def client(self):  # -> openlineage.client.OpenLineageClient
        from openlineage.client import OpenLineageClient

        return OpenLineageClient()
