"""Where HTML reports and plots are written and published."""

from pathlib import Path

import dagster as dg

from fti_assets.resources.atomic import atomic_write_bytes


class ReportStore(dg.ConfigurableResource):
    """Where HTML reports and plots are written (under FTI_HOME) and the HTTP address that
    publishes them (the reports server ``make dev`` starts): the UI links over HTTP, since
    browsers refuse ``file://`` links."""

    folder: str
    base_url: str = "http://127.0.0.1:3002"

    def path(self, report: str, day: str) -> Path:
        return Path(self.folder) / report / f"{day}.html"

    def url_of(self, path: str | Path) -> str:
        """The HTTP address of a file under ``folder``."""
        return f"{self.base_url}/{Path(path).resolve().relative_to(Path(self.folder).resolve()).as_posix()}"

    def write(self, relative: str, content: bytes) -> str:
        """Store ``content`` at ``folder/relative`` (atomically) and return its HTTP address."""
        return self.url_of(atomic_write_bytes(Path(self.folder) / relative, content))
