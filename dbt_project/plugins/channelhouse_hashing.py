"""dbt-duckdb plugin: the salted e-mail hash used for customer identities.

E-mails never reach a warehouse table: ``channelhouse_email_hash(email)`` is
``sha256(salt || lower(trim(email)))``, with the salt read here from the environment
(``CHANNELHOUSE_HASH_SALT``) and bound into a *temporary* DuckDB macro of dbt's own
connection. The salt therefore appears in no compiled SQL, log, manifest or database file;
views that call the macro only work inside dbt (marts holding hashes are tables).
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin

SALT_ENV = "CHANNELHOUSE_HASH_SALT"
MIN_SALT_LENGTH = 16


def _salt() -> str:
    salt = os.environ.get(SALT_ENV, "")
    if len(salt) < MIN_SALT_LENGTH:
        raise RuntimeError(
            f"{SALT_ENV} must be set to a secret of at least {MIN_SALT_LENGTH} characters: "
            "customer e-mails are stored only as salted hashes (see .env.example)"
        )
    return salt


class Plugin(BasePlugin):
    """Temporary objects live per DuckDB connection, and dbt-duckdb runs every model on its
    own cursor (a connection of its own), so the macro is created on each cursor."""

    def configure_connection(self, conn) -> None:
        _salt()  # fail at start-up, before any model runs, when the salt is missing

    def configure_cursor(self, cursor):
        literal = _salt().replace("'", "''")
        cursor.execute(
            "create or replace temp macro channelhouse_email_hash(email) as "
            "case when nullif(trim(email), '') is not null "
            f"then sha256('{literal}' || lower(trim(email))) end"
        )
        return cursor
