"""Column descriptions written out more than once across the project's ymls (models and
sources): candidates for a ``{% docs %}`` block in models/docs/. Usage, from the checkout:
``uv run python dbt_project/scripts/repeated_descriptions.py [--min 2]``."""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parents[1] / "models"


def column_descriptions() -> dict[str, list[str]]:
    """Literal description text -> where it appears (``file:node.column``); doc() references
    are left out (they are the cure, not the disease)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(MODELS.rglob("*.yml")):
        spec = yaml.safe_load(path.read_text()) or {}
        nodes = list(spec.get("models", []))
        for source in spec.get("sources", []):
            nodes += source.get("tables", [])
        for node in nodes:
            for column in node.get("columns", []):
                text = " ".join((column.get("description") or "").split())
                if text and "doc(" not in text:
                    where = f"{path.relative_to(MODELS)}:{node['name']}.{column['name']}"
                    found[text].append(where)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=int, default=2, help="report texts used this many times")
    args = parser.parse_args()
    repeated = {t: w for t, w in column_descriptions().items() if len(w) >= args.min}
    for text, where in sorted(repeated.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(where)}x {text}")
        for place in where:
            print(f"    {place}")
    print(f"{len(repeated)} descriptions repeated {sum(map(len, repeated.values()))} times")


if __name__ == "__main__":
    main()
