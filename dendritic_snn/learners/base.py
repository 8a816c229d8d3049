"""The learner protocol: what every task expects of a learning rule on a chip.

A learner is built on a hardware profile with a seed and a config, trained with
:meth:`Learner.fit`, queried with :meth:`Learner.predict`, reports the events it caused
(:meth:`Learner.event_counts`, turned into joules by :meth:`Learner.energy`) and saves / loads
its trained state (:meth:`Learner.state_dict`, :meth:`Learner.load_state_dict`).

Each learner declares the *input kind* it takes (:data:`INPUT_KINDS`):

* ``"spikes"``: a sequence of :class:`~dendritic_snn.data.patterns.SpikePattern`;
* ``"vectors"``: a float array ``(n_examples, n_inputs)``;
* ``"images"``: a float array ``(n_examples, height, width)`` of pixel values in ``[0, 1]``.

A task converts its data into the kind of the learner it runs (a pattern task turns spike
patterns into time-bin vectors, an image task turns images into Poisson spike trains) and may
run every registered learner whose kind it can produce. Calls happen in this order:
``fit`` once, ``predict`` (any number of times), ``report`` once on the test set, ``energy``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ..seeding import seeded_rng

if TYPE_CHECKING:
    from ..hardware.energy import EventCounts
    from ..hardware.profiles import Profile

InputKind = Literal["spikes", "vectors", "images"]
#: The input kinds a learner may declare.
INPUT_KINDS: tuple[str, ...] = ("spikes", "vectors", "images")


@dataclass
class LearnerSetup:
    """Everything a learner is built from.

    Attributes
    ----------
    profile
        Hardware profile (with the run's mismatch sigma).
    seed
        Chip and learner seed: the same seed gives the same chip and the same initial state.
    config
        The learner's hyperparameters (see :func:`~dendritic_snn.learners.registry.learner_config`).
    n_inputs
        Input channels (``"spikes"``) or vector length (``"vectors"``); pixels for ``"images"``.
    n_classes
        Number of classes (outputs).
    out
        Run directory for checkpoints and plots; None for none.
    progress
        Show progress bars.
    """

    profile: Profile
    seed: int
    config: dict[str, Any]
    n_inputs: int
    n_classes: int
    out: Path | None = None
    progress: bool = False


@dataclass
class TrainingData:
    """Labelled training examples of the learner's input kind.

    Attributes
    ----------
    x
        Examples, in presentation order (``x[i]`` has label ``y[i]``).
    y
        Integer labels in ``[0, n_classes)``.
    classes
        Class names.
    calibration
        Unlabelled examples for an unsupervised calibration before training (None: the
        learner uses the first training examples if it calibrates at all).
    monitor
        Named ``(x, y)`` sets scored after every epoch by learners that train in epochs
        (the learning curve); they never change the training.
    name
        Data set name, for plot titles.
    """

    x: Sequence[Any] | np.ndarray
    y: np.ndarray
    classes: list[str]
    calibration: Sequence[Any] | None = None
    monitor: dict[str, tuple[Any, np.ndarray]] = field(default_factory=dict)
    name: str = ""


@dataclass
class LearnerEvents:
    """Mean events per example (None where the learner counts none)."""

    inference: EventCounts | None = None
    training: EventCounts | None = None


class Learner(ABC):
    """Base class of every learner; subclass it and decorate with ``@register``.

    Class attributes
    ----------------
    name
        Registry name (``--learner NAME``).
    input_kind
        One of :data:`INPUT_KINDS`.
    default_profile
        Profile used when neither the user nor the task names one (None: the task's).
    home_task
        Task whose spec config holds this learner's default hyperparameters (None: the
        class's :attr:`defaults`).
    defaults
        Default hyperparameters when there is no home task.
    title
        Display name (default: ``name``).
    hint_at_chance
        Advice printed when a run ends at chance.
    """

    name: ClassVar[str] = ""
    input_kind: ClassVar[str] = "vectors"
    default_profile: ClassVar[str | None] = None
    home_task: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, Any]] = {}
    #: display name in plot titles and summaries
    title: ClassVar[str] = ""
    #: what to try when a run ends at chance (appended to the summary)
    hint_at_chance: ClassVar[str] = "another --seed or a smaller learning rate"

    def __init__(self, setup: LearnerSetup) -> None:
        self.setup = setup
        self.profile = setup.profile
        self.seed = int(setup.seed)
        self.config = setup.config
        #: seconds spent building (compiling) the learner's network
        self.build_s = 0.0
        #: examples presented so far (training and inference), for throughput
        self.examples = 0

    # -- construction -----------------------------------------------------------------
    @classmethod
    def build(
        cls,
        profile: Profile,
        seed: int,
        config: dict[str, Any],
        n_inputs: int,
        n_classes: int,
        out: Path | None = None,
        progress: bool = False,
    ) -> Learner:
        """A learner on ``profile``, mismatch drawn from ``seed`` (see :class:`LearnerSetup`)."""
        cls.check_profile(profile)
        return cls(LearnerSetup(profile, seed, config, n_inputs, n_classes, out, progress))

    @classmethod
    def prepare(cls, config: dict[str, Any]) -> None:
        """Start, in the background, one-off work a run with ``config`` will need (such as
        compiling), as soon as the run's config is known. The default does nothing."""
        return None

    @classmethod
    def check_profile(cls, profile: Profile) -> None:
        """Raise :class:`~dendritic_snn.errors.DsnnError` if ``profile`` lacks a needed block.

        The default accepts every profile.
        """
        return None

    def rng(self, *keys: str) -> np.random.Generator:
        """A generator determined by the run seed and ``keys`` alone (named streams)."""
        return seeded_rng(self.seed, *keys)

    # -- learning ---------------------------------------------------------------------
    @abstractmethod
    def fit(self, data: TrainingData) -> dict[str, Any]:
        """Train on ``data``; returns training metrics (JSON-serialisable)."""

    @abstractmethod
    def predict(self, x: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Predicted class of each example (int array)."""

    def report(
        self, x: Sequence[Any] | np.ndarray, y: np.ndarray, predicted: np.ndarray
    ) -> dict[str, Any]:
        """Extra test metrics after :meth:`predict` on the test set (default none)."""
        return {}

    def plots(self, out: Path, title: str) -> list[str]:
        """Write learner-specific plots into ``out``; returns their file names."""
        return []

    def arrays(self) -> dict[str, np.ndarray]:
        """Learner-specific arrays for ``arrays.npz`` (training traces, ...)."""
        return {}

    def summary_note(self) -> str:
        """A short clause appended to the run summary (default none)."""
        return ""

    # -- energy -----------------------------------------------------------------------
    def event_counts(self) -> LearnerEvents:
        """Mean events per inference and per training example (default: none counted)."""
        return LearnerEvents()

    def energy(self) -> dict[str, Any]:
        r"""Energy section of ``result.json`` from :meth:`event_counts`.

        .. math:: E = \sum_e n_e E_e + P_{static} t

        per example (:func:`~dendritic_snn.hardware.energy.energy_report`).
        """
        from ..hardware.energy import energy_report

        events = self.event_counts()
        return energy_report(events.inference, events.training, self.profile)

    # -- state ------------------------------------------------------------------------
    @abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """The trained state as named arrays (everything :meth:`predict` needs)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the state written by :meth:`state_dict` (after building with the same setup)."""

    def describe(self) -> dict[str, Any]:
        """JSON metadata saved beside the state (sizes, model constants)."""
        return {}
