"""Serving settings (pydantic), ready to embed in channelhouse.yml under ``serving:``.

Secrets are never values here: the PostgreSQL DSN (and the optional password of the read-only
role) are read at run time from the environment variables NAMED here.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PG_MAX_IDENT = 63
# the longest suffix added to a published schema name (staging / previous version)
_LONGEST_SUFFIX = len("__staging")


def _identifier(value: str, what: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(
            f"{what} {value!r} must be lower-case letters, digits and underscores "
            "(starting with a letter or underscore)"
        )
    return value


class PostgresPublishSettings(BaseModel):
    """Publish the public marts into PostgreSQL after each build.

    DuckDB schema ``core`` is published as PostgreSQL schema ``<schema_prefix>core``
    (default ``channelhouse_core``), so the publication never clashes with (or drops!) a
    user's own ``core`` schema. While loading, a schema is ``<name>__staging``; during the
    swap the previous version is briefly ``<name>__old``.
    """

    model_config = ConfigDict(extra="forbid")

    dsn_env: str = Field(
        "CHANNELHOUSE_PG_DSN",
        description="Environment variable holding the libpq DSN/URI of the target database "
        "(its user needs CREATE on the database and CREATEROLE to create the reader role).",
    )
    schema_prefix: str = Field(
        "channelhouse_", description="Prefix of the published schema names (core -> <prefix>core)."
    )
    reader_role: str = Field(
        "channelhouse_reader",
        description="Read-only role granted USAGE/SELECT on the published schemas (created "
        "NOLOGIN if missing; grant it to your BI users, or set reader_password_env).",
    )
    reader_password_env: str | None = Field(
        None,
        description="Environment variable with a password for the reader role: when set, "
        "the role gets LOGIN and that password (a BI tool can then log in as it).",
    )
    connect_timeout_seconds: int = Field(10, ge=1, description="libpq connect_timeout.")
    statement_timeout_seconds: float = Field(
        1800, gt=0, description="Upper bound for any one statement of the publish (COPY...)."
    )
    lock_timeout_seconds: float = Field(
        5,
        gt=0,
        description="How long the swap waits for BI queries on the previous version to finish "
        "before giving up an attempt (new BI queries queue behind a waiting swap, so keep this "
        "short).",
    )
    swap_attempts: int = Field(
        4, ge=1, description="Swap attempts (with a growing pause) before the publish fails."
    )
    batch_rows: int = Field(
        50_000, ge=1_000, description="Rows per Arrow batch streamed from DuckDB (memory bound)."
    )

    @field_validator("schema_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _identifier(value, "schema_prefix") if value else value

    @field_validator("reader_role")
    @classmethod
    def _role(cls, value: str) -> str:
        return _identifier(value, "reader_role")


class ServingSettings(BaseModel):
    """What BI tools read: a read-only DuckDB copy and/or a PostgreSQL publication."""

    model_config = ConfigDict(extra="forbid")

    public_schemas: list[str] = Field(
        default_factory=lambda: ["core", "analytics", "ml", "alerts"],
        min_length=1,
        description="DuckDB schemas served to BI tools (staging/intermediate stay internal).",
    )
    copy_enabled: bool = Field(True, description="Maintain the read-only DuckDB serving copy.")
    copy_path: Path | None = Field(
        None, description="The serving copy; default <data_dir>/serving/warehouse.duckdb."
    )
    postgres: PostgresPublishSettings | None = Field(
        None, description="Publish into PostgreSQL too (off unless configured)."
    )

    @field_validator("public_schemas")
    @classmethod
    def _schemas(cls, value: list[str]) -> list[str]:
        for name in value:
            _identifier(name, "public schema")
        if len(set(value)) != len(value):
            raise ValueError("public_schemas lists a schema twice")
        return value

    @model_validator(mode="after")
    def _pg_names_fit(self):
        if self.postgres is not None:
            for name in self.public_schemas:
                full = self.postgres.schema_prefix + name
                if len(full) + _LONGEST_SUFFIX > _PG_MAX_IDENT:
                    raise ValueError(
                        f"published schema name {full!r} is too long for PostgreSQL "
                        f"(max {_PG_MAX_IDENT - _LONGEST_SUFFIX} characters with the prefix)"
                    )
        return self

    def copy_target(self, data_dir: Path | str) -> Path:
        """Where the serving copy lives."""
        if self.copy_path is not None:
            return Path(self.copy_path)
        return Path(data_dir) / "serving" / "warehouse.duckdb"
