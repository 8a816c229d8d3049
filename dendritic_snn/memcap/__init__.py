"""Memcapacitive SNN trained with its circuit's nonlinearity (Oshio et al., COOL CHIPS 2022).

:mod:`.network` is the circuit model (memcapacitor pairs, hysteretic analog neurons, pulse
encoding at the clock, energy counting); :mod:`.train` trains it nonlinearity-aware or
naively (ideal network, then mapped).
"""

from .network import Circuit, CircuitOutput, build_circuit
from .train import MemcapConfig, forward, map_naive, train

__all__ = [
    "Circuit",
    "CircuitOutput",
    "MemcapConfig",
    "build_circuit",
    "forward",
    "map_naive",
    "train",
]
