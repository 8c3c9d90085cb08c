"""Every notebook (jupytext percent ``.py`` files in notebooks/) runs top to bottom on the snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT = 300

pytestmark = [pytest.mark.notebooks, pytest.mark.realdata]


def _read(path: Path):
    jupytext = pytest.importorskip("jupytext")
    return jupytext.read(path)


def test_the_four_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["01_quickstart", "02_liberation_day_and_pause", "03_chips_and_negotiations",
                     "04_volatility"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs_and_explains_itself(path):
    notebook = _read(path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    markdown = [c for c in notebook.cells if c.cell_type == "markdown"]
    assert code and len(markdown) >= 3
    assert all(not c.get("outputs") for c in code)
    text = path.read_text(encoding="utf-8")
    assert "EVENTSTUDY_SNAPSHOT" in text
    assert "../shared" not in text and "/shared/" not in text  # prices only through the variable


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, snapshot_dir, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    notebook = _read(path)
    monkeypatch.setenv("EVENTSTUDY_SNAPSHOT", str(snapshot_dir))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, "every notebook shows at least one figure"
    reprs = [o["data"]["text/plain"] for o in outputs
             if "image/png" not in o.get("data", {}) and "text/plain" in o.get("data", {})]
    assert not [r for r in reprs if r.startswith(("<Axes", "<Figure", "<matplotlib"))], \
        "a cell shows an object repr instead of its figure"
