"""Learners: one protocol (:class:`Learner`), one registry, one module per learning rule.

Register a learner once and every task whose data fits its input kind can run it::

    from dendritic_snn.learners import Learner, register

    @register
    class MyLearner(Learner):
        name = "mine"
        input_kind = "vectors"
        ...

    dsnn task mnist --learner mine   # after importing the module (or via an entry point)
"""

from .base import INPUT_KINDS, Learner, LearnerEvents, LearnerSetup, TrainingData
from .registry import available, get_learner, learner_config, register, unregister
from .store import load_model, save_model

__all__ = [
    "INPUT_KINDS",
    "Learner",
    "LearnerEvents",
    "LearnerSetup",
    "TrainingData",
    "available",
    "get_learner",
    "learner_config",
    "load_model",
    "register",
    "save_model",
    "unregister",
]
