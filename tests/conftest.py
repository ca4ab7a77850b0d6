"""Shared fixtures: a tiny synthetic Denmark (built once per session) and a CLI caller."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from almen.cli import app
from almen.synth import SynthParams, write_denmark

TINY = SynthParams(scale=0.01, seed=0, year=2025)


@pytest.fixture(scope="session")
def tiny_denmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with synthetic Denmark at scale 0.01, seed 0 (read-only use)."""
    data = tmp_path_factory.mktemp("tiny-denmark")
    write_denmark(TINY, data)
    return data


@pytest.fixture
def tiny_copy(tiny_denmark: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the tiny Denmark."""
    dest = tmp_path / "data"
    shutil.copytree(tiny_denmark, dest)
    return dest


@pytest.fixture
def call_cli() -> Callable[..., Result]:
    runner = CliRunner()

    def call(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return call


@pytest.fixture(scope="session")
def initialised_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after `almen init` (reference data, no people; population 2025)."""
    from almen.ingest.initial import initialise
    from almen.warehouse import Warehouse

    data = tmp_path_factory.mktemp("initialised")
    with Warehouse.connect(data) as wh:
        initialise(wh, [2025])
    return data


@pytest.fixture
def empty(initialised_warehouse: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the initialised warehouse."""
    dest = tmp_path / "data"
    shutil.copytree(initialised_warehouse, dest)
    return dest
