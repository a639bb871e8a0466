"""The layout a newcomer relies on: ARCHITECTURE.md names each asset's file, the UI links each
asset to its code, and the formatter, not a hand, lays out the code.

``python -m fti_assets_tests.test_layout`` prints ARCHITECTURE.md's asset table from the definitions.
"""

from __future__ import annotations

import inspect
import re
import subprocess
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
MAX_LINE, MAX_SKIPS = 120, 20
TABLE_START, TABLE_END = "<!-- asset-table:start -->", "<!-- asset-table:end -->"


def _body(asset: dg.AssetsDefinition):
    """The function an asset runs: its op's, or for a graph-backed asset the graph's composition."""
    node = asset.node_def
    if isinstance(node, dg.GraphDefinition):
        return node.composition_fn
    fn = node.compute_fn
    return getattr(fn, "decorated_fn", fn)


def asset_files() -> list[tuple[str, str, str]]:
    """``(asset key, group, file)`` for every asset, in the order the pipelines declare them."""
    from fti_assets.definitions import ASSETS

    rows = []
    for asset in ASSETS:
        path = Path(inspect.getsourcefile(_body(asset))).resolve().relative_to(ROOT).as_posix()
        rows += [(key.to_user_string(), asset.group_names_by_key[key], path) for key in asset.keys]
    return rows


def asset_table() -> str:
    lines = ["| asset | group | file |", "| --- | --- | --- |"]
    lines += [f"| `{key}` | {group} | [`{path}`]({path}) |" for key, group, path in asset_files()]
    return "\n".join(lines)


def test_architecture_names_the_file_of_every_asset() -> None:
    text = ARCHITECTURE.read_text()
    written = text[text.index(TABLE_START) + len(TABLE_START) : text.index(TABLE_END)].strip()
    assert written == asset_table(), (
        "regenerate ARCHITECTURE.md's table with `python -m fti_assets_tests.test_layout`"
    )


def test_every_path_architecture_names_exists() -> None:
    paths = set(
        re.findall(
            r"`((?:fti_assets|fti_assets_tests|bench|deploy|docs)/[\w./-]*)`", ARCHITECTURE.read_text()
        )
    )
    assert paths and not sorted(p for p in paths if not (ROOT / p).exists())


def test_the_ui_links_every_asset_to_the_file_of_its_body() -> None:
    from fti_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    linked = {}
    for key in graph.get_all_asset_keys():
        [reference] = graph.get(key).metadata["dagster/code_references"].code_references
        linked[key.to_user_string()] = Path(reference.file_path).resolve().relative_to(ROOT).as_posix()
    assert linked == {key: path for key, _, path in asset_files()}


def _python_files() -> list[Path]:
    return [
        p
        for folder in ("fti_assets", "fti_assets_tests", "bench")
        for p in (ROOT / folder).rglob("*.py")
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    ]


def test_the_formatter_lays_out_every_file() -> None:
    """``ruff format`` decides the layout: nothing it would change, at most a few literal tables
    kept by hand (``# fmt: skip``), and no line it could not fold past 120 characters."""
    files = _python_files()
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ruff"), "format", "--check", *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    skips = sum(p.read_text().count("fmt: skip") for p in files)
    long = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if len(line) > MAX_LINE
    ]
    assert skips <= MAX_SKIPS and not long, f"{skips} fmt: skip; lines over {MAX_LINE}: {long}"


#: What marks a library's private internals in the project's code.
PRIVATE = ("dagster._", "_LIB", "_safe_call", "evidently.legacy", "dagster_meta")
#: The one module allowed to use them: the version-gated storage accelerator, which falls back
#: to Dagster's stock storage (fti_assets/platform/storage_accelerator.py).
ACCELERATOR = "fti_assets/platform/storage_accelerator.py"
#: Uses being removed by work in progress: file -> the markers it may still hold. Each entry is a
#: debt, not a rule; the test fails once the use is gone, so the entry goes too.
ALLOWED_FOR_NOW: dict[str, tuple[str, ...]] = {
    "fti_assets/serving/one_row.py": ("_LIB", "_safe_call"),
    "fti_assets/monitoring/drift.py": ("evidently.legacy",),
}


def test_no_private_internals_outside_the_storage_accelerator() -> None:
    """The package uses its libraries' public APIs; only the storage accelerator reaches into
    Dagster's internals, behind its version gate."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "fti_assets").rglob("*.py"):
        name, text = path.relative_to(ROOT).as_posix(), path.read_text()
        hits = {marker for marker in PRIVATE if marker in text}
        if hits and name != ACCELERATOR:
            found[name] = hits
    allowed = {name: set(markers) for name, markers in ALLOWED_FOR_NOW.items()}
    assert {n: h - allowed.get(n, set()) for n, h in found.items() if h - allowed.get(n, set())} == {}
    stale = {n: m - found.get(n, set()) for n, m in allowed.items() if m - found.get(n, set())}
    assert not stale, f"no longer used, remove from ALLOWED_FOR_NOW: {stale}"
    assert "dagster._" in (ROOT / ACCELERATOR).read_text()  # the test looks where the internals are


if __name__ == "__main__":
    print(asset_table())
