"""NIR export of a run's saved model (``model.json`` + ``model.npz``); nothing is replayed.

Each supported learner has a graph builder (:data:`EXPORTERS`) that turns the saved state
into the graphs of :mod:`.nir_export`: ``rate_ep`` and ``eqspike`` (layered, optionally with
the feedback weights) and ``dendritic`` (input -> P -> R).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DsnnError
from .nir_export import _nir, dendritic_graph, eqspike_graph, rate_ep_graph

Array = np.ndarray


def _model(run_dir: Path) -> tuple[dict, dict[str, Array]]:
    """``(model.json, model.npz arrays)`` of a run directory (the saved trained model)."""
    from ..learners.store import read_model_meta, read_model_state

    meta = read_model_meta(run_dir)
    return meta, read_model_state(run_dir)


def _profile_meta(prof, meta: dict) -> dict:
    return {
        "profile_name": meta["profile"]["name"],
        "profile_sha256": meta["profile"].get("sha256", ""),
        "profile_params": {role: dict(vals) for role, vals in prof.params.items()},
        "mismatch_sigma": float(prof.model.mismatch.sigma),
        "mismatch_seed": int(meta["seed"]),
        "seed": int(meta["seed"]),
        "task": meta["task"],
        "learner": meta["learner"],
        "config": json.dumps(meta["config"], sort_keys=True, default=str),
    }


def _layers(state: Mapping[str, Array]) -> tuple[list[Array], list[Array]]:
    n_layers = sum(1 for k in state if k.startswith("W") and k[1:].isdigit())
    try:
        weights = [np.asarray(state[f"W{k}"], np.float64) for k in range(n_layers)]
        biases = [np.asarray(state[f"b{k}"], np.float64) for k in range(n_layers)]
    except KeyError as err:
        raise DsnnError(f"saved model has no layer {err}") from None
    return weights, biases


def _rate_ep(meta: dict, state: Mapping[str, Array], recurrent: bool = False, **_: Any):
    weights, biases = _layers(state)
    cfg = meta["config"]
    info = {
        "sizes": [int(n) for n in meta["model"]["sizes"]],
        "task": meta["task"],
        "learner": "rate_ep",
        "seed": int(meta["seed"]),
        "eps": float(cfg.get("eps", 0.0)),
        "n_eval": int(cfg.get("n_eval", 0)),
        "config": json.dumps(cfg, sort_keys=True, default=str),
    }
    return rate_ep_graph(weights, biases, recurrent=recurrent, metadata=info)


def _eqspike(
    meta: dict, state: Mapping[str, Array], recurrent: bool = False, ifc_as: str = "lif", **_: Any
):
    from types import SimpleNamespace

    from ..learners.store import model_profile

    weights, biases = _layers(state)
    prof = model_profile(meta)
    per_layer = {
        key: [np.asarray(state[f"chip.{key}.{k}"], np.float64) for k in range(len(weights))]
        for key in ("gain", "leak", "g_out")
    }
    chip = SimpleNamespace(
        step_s=float(state["chip.step_s"]),
        matched=bool(state["chip.matched"]),
        notes=meta["model"].get("chip", {}),
        **per_layer,
    )
    info = {"sizes": [int(n) for n in meta["model"]["sizes"]], **_profile_meta(prof, meta)}
    return eqspike_graph(weights, biases, chip, prof, ifc_as, recurrent, metadata=info)


def _dendritic(meta: dict, state: Mapping[str, Array], **_: Any):
    from ..dendritic.experiment import model_from_config
    from ..dendritic.network import FIXED, PLASTIC
    from ..learners.store import model_profile

    prof = model_profile(meta)
    model, _ = model_from_config(meta["config"])
    weights = {k[2:]: np.asarray(v, np.float64) for k, v in state.items() if k.startswith("w.")}
    chip = {
        tuple(k[5:].split(".", 1)): np.asarray(v, np.float64)
        for k, v in state.items()
        if k.startswith("chip.")
    }
    n_in, n_p, n_r = (int(n) for n in meta["model"]["sizes"])
    sizes = {"IN": n_in, "P": n_p, "R": n_r, "I": n_r}
    chip_meta = {
        f"{pop}_{var}": val
        for (pop, var), val in chip.items()
        if pop in ("P", "R")
        and (
            var in ("Itau", "Ith", "C", "Ispkthr", "Ireset", "Iconst") or var.endswith("_bas")
        )  # fmt: skip
    }
    info = {
        **_profile_meta(prof, meta),
        "mismatch_seed_rule": MISMATCH_SEED_RULE,
        "dt_s": float(meta["model"]["dt_s"]),
        "sizes": [n_in, n_p, n_r],
        "chip": chip_meta,
        "model_params": meta["model"]["model_params"],
        "training_only": {
            f"w_{p}": weights[p] for p in (*PLASTIC, *FIXED) if p not in ("in_p", "p_r")
        },
        "weights_in_units_of_Iw0": {p: weights[p] for p in ("in_p", "p_r")},
    }
    return dendritic_graph(weights, chip, model, sizes, metadata=info)


#: how the mismatch of a saved chip was drawn (recorded in the graph metadata)
MISMATCH_SEED_RULE = (
    "hardware.mismatch.sample_block(profile, role, n, seed, instance): one stream per "
    "(seed, instance, role.parameter)"
)
#: NIR graph builders per learner (from the learner's saved model)
EXPORTERS = {"rate_ep": _rate_ep, "eqspike": _eqspike, "dendritic": _dendritic}


def _write(graph, path: Path | str) -> Path:
    nir = _nir()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), graph)
    return path


def run_graph(run_dir: Path | str, **options: Any):
    """The NIR graph of a run's saved model (``model.json`` + ``model.npz``).

    Parameters
    ----------
    run_dir
        A run directory written by ``dsnn task`` (any task) with a learner in
        :data:`EXPORTERS`.
    **options
        ``recurrent`` (rate_ep, eqspike: also export the feedback weights) and ``ifc_as``
        (eqspike: ``"lif"`` or ``"if"``, module docstring).
    """
    meta, state = _model(Path(run_dir))
    exporter = EXPORTERS.get(meta["learner"])
    if exporter is None:
        raise DsnnError(
            f"{run_dir}: NIR export supports the learners {', '.join(EXPORTERS)}, "
            f"not '{meta['learner']}'"
        )
    try:
        return exporter(meta, state, **options)
    except KeyError as err:
        raise DsnnError(
            f"{run_dir}: the saved model has no {err} (written by an older version?); "
            "rerun the task"
        ) from None


def export_run(run_dir: Path | str, path: Path | str, **options: Any):
    """Export the trained model of a run directory to a NIR file.

    Parameters
    ----------
    run_dir
        Run directory with the saved model (``model.json``, ``model.npz``).
    path
        Output ``.nir`` (HDF5) file.
    **options
        See :func:`run_graph`.

    Returns
    -------
    nir.NIRGraph
        The graph written to ``path``.
    """
    graph = run_graph(run_dir, **options)
    _write(graph, path)
    return graph
