"""Export of trained networks to interchange formats (NIR: :mod:`.nir_export`).

The ``nir`` package is an optional extra (``pip install 'dendritic_snn[nir]'``); importing this
package does not need it, only calling the export functions does.
"""

from .nir_export import (
    export_dendritic_run,
    export_mnist_run,
    export_run,
    load_nir,
    to_nir_graph,
)

__all__ = ["export_dendritic_run", "export_mnist_run", "export_run", "load_nir", "to_nir_graph"]
