"""Settings, built once by ``get_settings`` at the edge (CLI, web) and passed down.

Engines never import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from almen.warehouse import Target

__all__ = ["Settings", "get_settings", "warehouse_target"]


class Settings(BaseSettings):
    """almen's settings; each can be set by an ``ALMEN_*`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="ALMEN_", extra="ignore")

    data: Path = Field(Path("almen-data"), description="data directory (ALMEN_DATA)")
    warehouse_url: str | None = Field(
        None,
        description="Ibis backend URL, e.g. postgres://… (ALMEN_WAREHOUSE_URL); "
        "default: a DuckDB file in the data directory",
    )
    pseudonym_key: str | None = Field(
        None,
        description="secret key for CPR pseudonyms (ALMEN_PSEUDONYM_KEY); default: a key "
        "file created in the data directory",
    )
    duckdb_memory_limit: str | None = Field(
        None,
        description="DuckDB memory limit, e.g. 6GB (ALMEN_DUCKDB_MEMORY_LIMIT); default: "
        "DuckDB's (80 % of RAM)",
    )
    duckdb_threads: int | None = Field(
        None, ge=1, description="DuckDB threads (ALMEN_DUCKDB_THREADS); default: every core"
    )
    duckdb_temp_directory: Path | None = Field(
        None,
        description="where DuckDB spills what does not fit in memory "
        "(ALMEN_DUCKDB_TEMP_DIRECTORY); default: next to the warehouse file",
    )
    lock_wait: float = Field(
        120.0,
        ge=0,
        description="seconds a command waits while another process (the web app, another "
        "command) holds the DuckDB file (ALMEN_LOCK_WAIT)",
    )
    session_idle_minutes: float = Field(
        30, gt=0, description="a web session ends after this long without a request "
        "(ALMEN_SESSION_IDLE_MINUTES)",
    )  # fmt: skip
    session_max_hours: float = Field(
        8, gt=0, description="a web session ends this long after login (ALMEN_SESSION_MAX_HOURS)"
    )
    https: bool = Field(
        False,
        description="the app is served over TLS (directly or behind a proxy): secure "
        "cookies and HSTS (ALMEN_HTTPS)",
    )
    trusted_hosts: str | None = Field(
        None,
        description="comma-separated host names the app answers for, e.g. "
        "almen.region.dk (ALMEN_TRUSTED_HOSTS); default: any",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="addresses of proxies whose X-Forwarded-For/-Proto are trusted "
        "(ALMEN_FORWARDED_ALLOW_IPS)",
    )
    max_request_bytes: int = Field(
        1_000_000, ge=1024, description="largest request body, uploads included; larger "
        "get 413 (ALMEN_MAX_REQUEST_BYTES)",
    )  # fmt: skip
    records_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the records store (ALMEN_RECORDS_URL); default: "
        "records.sqlite in the data directory",
    )


def get_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``environ`` (default: the process environment) and overrides."""
    values: dict[str, object] = {}
    if environ is not None:
        for name in Settings.model_fields:
            key = f"ALMEN_{name.upper()}"
            if key in environ:
                values[name] = environ[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Settings.model_validate(values)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def warehouse_target(settings: Settings) -> Target:
    """Where the warehouse is (the backend URL if one is set, else the data directory)
    and the DuckDB settings to open it with."""
    options: dict[str, object] = {
        "memory_limit": settings.duckdb_memory_limit,
        "threads": settings.duckdb_threads,
        "temp_directory": None
        if settings.duckdb_temp_directory is None
        else str(settings.duckdb_temp_directory),
    }
    return Target(settings.warehouse_url or settings.data,
                  {k: v for k, v in options.items() if v is not None},
                  lock_wait=settings.lock_wait)  # fmt: skip
