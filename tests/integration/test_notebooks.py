"""The notebooks run top to bottom against (a copy of) the demo warehouse: no cell errors,
every chart drawn. A renamed column or mart breaks this test, not the notebook silently."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# notebook -> the charts it draws (at least one image per plotting cell)
EXPECTED_FIGURES = {"warehouse_tour.ipynb": 6, "forecast_deep_dive.ipynb": 3}


@pytest.fixture(scope="module")
def warehouse_copy(demo_warehouse, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("notebooks") / "warehouse.duckdb"
    shutil.copy(demo_warehouse.warehouse_path, path)
    return path


def execute(name: str, warehouse: Path, workdir: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh ``python3`` kernel (ipykernel of this venv) whose environment
    points at the warehouse copy; raises CellExecutionError on the first failing cell."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {
        **os.environ,
        "CHANNELHOUSE_WAREHOUSE": str(warehouse),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": workdir}}
    )
    client.execute(env=env)
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def test_committed_notebooks_carry_no_outputs():
    for name in EXPECTED_FIGURES:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code, name
        assert all(not c.outputs and c.execution_count is None for c in code), (
            f"{name}: strip the outputs before committing"
        )


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_notebook_runs_against_the_demo_warehouse(name, warehouse_copy, tmp_path):
    before = warehouse_copy.stat().st_mtime_ns
    started = time.perf_counter()
    notebook = execute(name, warehouse_copy, tmp_path)
    print(f"{name}: {time.perf_counter() - started:.1f}s")
    produced = outputs(notebook)
    errors = [out for out in produced if out.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    figures = [
        out for out in produced if "image/png" in out.get("data", {}) and out.data["image/png"]
    ]
    assert len(figures) >= EXPECTED_FIGURES[name], f"{name}: {len(figures)} figures"
    text = "".join(out.get("text", "") for out in produced if out.output_type == "stream")
    assert f"warehouse: {warehouse_copy}" in text  # the copy, not the user's warehouse
    assert warehouse_copy.stat().st_mtime_ns == before  # opened read-only
