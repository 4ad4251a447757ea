"""Plots for asset metadata: a matplotlib figure as a Markdown image (a PNG data URI), which
the Dagster UI shows inline. Headless (the Agg backend), closed after rendering."""

from __future__ import annotations

import base64
import io


def pyplot():
    """matplotlib.pyplot on the headless Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def markdown_png(fig, alt: str) -> str:
    """``fig`` as a Markdown image; the figure is closed."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    pyplot().close(fig)
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"
