"""Re-execute chapters and store the new text outputs of their ``nbval-check-output`` cells.

    PIXELCNN_PROFILE=ci .venv/bin/python scripts/refresh_checked_outputs.py chapters/04_architecture.ipynb

Only the cells tagged ``nbval-check-output`` keep outputs in the committed notebooks (nbval compares them);
every other cell stays without outputs.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TAG = "nbval-check-output"

for name in sys.argv[1:]:
    path = Path(name)
    notebook = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    NotebookClient(executed, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    changed = 0
    for cell, run in zip(notebook.cells, executed.cells):
        if cell.cell_type == "code" and TAG in cell.metadata.get("tags", []):
            outputs = [o for o in run.outputs if o.output_type == "stream" and o.get("name") == "stdout"]
            if outputs != cell.get("outputs"):
                changed += 1
            cell.outputs = outputs
            cell.execution_count = run.execution_count  # nbval refuses stored outputs without a count
    nbformat.write(notebook, path)
    print(f"{path}: {changed} checked cell(s) changed")
