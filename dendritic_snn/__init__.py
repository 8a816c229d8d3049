"""dendritic_snn: mixed-signal neuromorphic hardware models and on-chip learning rules.

Command line: ``dsnn``. Python API: :func:`dendritic_snn.run_task`,
:func:`dendritic_snn.load_profile`.
"""

from .hardware.profiles import list_profiles, load_profile
from .runners.api import list_tasks, run_task

__all__ = ["list_profiles", "load_profile", "list_tasks", "run_task"]
__version__ = "0.1.0"
