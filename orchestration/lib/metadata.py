"""Materialization metadata shown in the Dagster UI."""

import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    """A small frame as a Markdown table."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
