"""Every notebook runs top to bottom on its small settings, in a scratch directory with a copy of configs/."""
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(notebook, tmp_path):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    document = nbformat.read(notebook, as_version=4)
    client = NotebookClient(document, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [output for cell in document.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors


def test_there_is_a_notebook_per_task_and_for_the_lesson():
    from tasks.cli import available_tasks

    names = {p.stem for p in NOTEBOOKS}
    assert "bptt_from_scratch" in names
    assert set(available_tasks()) <= names
