"""Where the exchange rates come from (the ``fx`` settings of ``channelhouse.yml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from extractors.settings import SANDBOX, RetryConfig, _Strict, sandbox_or_url

ECB_FX_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"
SANDBOX_FX_PATH = "/ecb/stats/eurofxref/eurofxref-hist.zip"


class FxConfig(_Strict):
    """Where the exchange rates come from: the ECB's euro reference rates (full-history file)
    and, when it exists, a user file in the same layout whose rates win over the feed's."""

    source: Literal["ecb", "file", "none"] = Field(
        "ecb",
        description="'ecb': the feed, plus the file if present; 'file': only the file; "
        "'none': no feed (a seller whose every amount is in the base currency; the file is "
        "still read if present)",
    )
    endpoint: str | None = Field(
        SANDBOX,
        description="'sandbox', the URL of an eurofxref-hist.zip, or empty for the ECB's own",
    )
    file: Path = Field(
        Path("reference/eurofxref-hist.csv"),
        description="user rates in the ECB layout (.csv or .zip), relative to data_dir",
    )
    retry: RetryConfig = RetryConfig()

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return sandbox_or_url(value)

    @field_validator("file")
    @classmethod
    def _file(cls, value: Path) -> Path:
        if value.suffix.lower() not in (".csv", ".zip"):
            raise ValueError(f"must name a .csv or .zip file, got {str(value)!r}")
        return value

    @property
    def uses_sandbox(self) -> bool:
        return self.source == "ecb" and self.endpoint == SANDBOX

    def feed_url(self, sandbox_url: str) -> str:
        """The URL of the eurofxref-hist.zip to download."""
        if self.endpoint == SANDBOX:
            return f"{sandbox_url}{SANDBOX_FX_PATH}"
        return self.endpoint or ECB_FX_URL
