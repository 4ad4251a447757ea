"""What every API connection's settings share: strict models, retry settings, the secrets it
names (environment variables, read only when a client is built).

Plain pydantic; nothing here knows the deployment's configuration file (``channelhouse.yml``
embeds these models, not the other way round).
"""

from __future__ import annotations

import os
import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from extractors.usage import UsageLimits

SANDBOX = "sandbox"
ENV_VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class MissingSecretError(RuntimeError):
    """A connection's secret is not in the environment; the message names the variable."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryConfig(_Strict):
    max_attempts: int = Field(8, ge=1, le=20)
    backoff_base_s: float = Field(0.5, gt=0, le=60)
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    read_timeout_s: float = Field(30.0, gt=0, le=600)


def sandbox_or_url(value: str | None) -> str | None:
    """An ``endpoint`` setting: None, 'sandbox' or an http(s) URL."""
    if value in (None, SANDBOX) or re.match(r"^https?://", value):
        return value
    raise ValueError(f"must be 'sandbox' or an http(s) URL, got {value!r}")


class _Connection(_Strict):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ()

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="unique, lower_snake_case")
    endpoint: str | None = Field(
        None, description="'sandbox', a base URL, or empty for the real API host"
    )
    secrets: dict[str, str] = Field(description="secret name -> environment variable name")
    retry: RetryConfig = RetryConfig()
    limits: UsageLimits | None = Field(
        None, description="requests_per_day, rows_per_month: warn at 80%, stop the sync at 100%"
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return sandbox_or_url(value)

    @model_validator(mode="after")
    def _secrets(self):
        missing = [s for s in self.REQUIRED_SECRETS if s not in self.secrets]
        if missing:
            raise ValueError(
                f"secrets: {self.channel} connection needs environment variable names for "
                f"{', '.join(missing)} (e.g. {missing[0]}: {self.name.upper()}_{missing[0].upper()})"
            )
        for key, var in self.secrets.items():
            if not ENV_VAR_NAME.match(var):
                raise ValueError(
                    f"secrets.{key}: {var!r} is not an environment variable name; put the "
                    "variable's NAME here, never the secret itself"
                )
        return self

    @property
    def uses_sandbox(self) -> bool:
        return self.endpoint == SANDBOX


def resolve_secrets(conn: _Connection) -> dict[str, str]:
    """The connection's secrets, read from the environment now (never at import time)."""
    values: dict[str, str] = {}
    for key, var in conn.secrets.items():
        value = os.environ.get(var)
        if not value:
            raise MissingSecretError(
                f"connection {conn.name!r} needs its {key} in environment variable {var}, "
                "which is not set (see .env.example)"
            )
        values[key] = value
    return values
