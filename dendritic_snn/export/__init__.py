"""Export of trained models to interchange formats (NIR: :mod:`.nir_export`).

The exporters read a run's saved model (``model.json`` + ``model.npz``), never replay the run.

The ``nir`` package is an optional extra (``pip install 'dendritic_snn[nir]'``); importing this
package does not need it, only calling the export functions does.
"""

from .nir_export import load_nir, to_nir_graph
from .saved import EXPORTERS, export_run, run_graph

__all__ = ["EXPORTERS", "export_run", "load_nir", "run_graph", "to_nir_graph"]
