"""``make docs``: the dbt docs of the warehouse as one self-contained HTML page.

dbt runs as Dagster runs it: the same vars (from ``channelhouse.yml``), warehouse and salt
(``.env``, then ``.env.example`` for what it lacks). Usage: ``python -m orchestration.dbt_docs
<target dir>`` → ``<target dir>/static_index.html``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dotenv import load_dotenv

from orchestration.config import ChannelHouseConfig, load_config
from orchestration.defs.warehouse import DBT_DIR, dbt_vars


def generate_docs(config: ChannelHouseConfig, target: Path) -> subprocess.CompletedProcess:
    """``dbt docs generate --static`` into ``target`` for the config's warehouse."""
    warehouse = Path(config.warehouse_path).resolve()
    if not warehouse.is_file():
        sys.exit(
            f"no warehouse at {warehouse}: run 'make demo' first (or set CHANNELHOUSE_WAREHOUSE)"
        )
    env = {
        **os.environ,
        "CHANNELHOUSE_WAREHOUSE": str(warehouse),
        "CHANNELHOUSE_DATA_DIR": str(Path(config.data_dir).resolve()),
        "DBT_LOG_PATH": str(target / "logs"),
    }
    variables = json.dumps(dbt_vars(config))
    dbt = str(Path(sys.executable).with_name("dbt"))
    command = [dbt, "docs", "generate", "--static", "--vars", variables, "--target-path"]
    return subprocess.run(
        [*command, str(target)], cwd=DBT_DIR, env=env, capture_output=True, text=True
    )


def main(target: Path) -> int:
    load_dotenv(".env")
    load_dotenv(".env.example")
    result = generate_docs(load_config(), target)
    print(result.stdout[-3000:], result.stderr[-2000:], sep="\n")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
