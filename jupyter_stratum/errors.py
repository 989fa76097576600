"""One exception type per area a user can get wrong.

Each message says what was wrong and what to do. Front-ends (magics, CLI, REST)
show ``str(error)`` to the user, never a traceback.
"""

from __future__ import annotations


class StratumError(Exception):
    """Base class of every error a user can cause."""

    #: short label front-ends print before the message
    area = "stratum"

    def __str__(self) -> str:  # keep the message as given
        return self.args[0] if self.args else self.area


class SpecError(StratumError):
    """The pipeline spec is invalid (YAML syntax, unknown field, bad value).

    ``errors`` holds one :class:`SpecIssue` per problem so that the sidebar can
    show each next to its field.
    """

    area = "spec"

    def __init__(self, message: str, errors: list | None = None):
        super().__init__(message)
        self.errors = list(errors or [])


class DataError(StratumError):
    """The data cannot be used: unreadable file, missing column, empty, NaN target."""

    area = "data"


class ClusterError(StratumError):
    """The Dask cluster cannot be reached or cannot run the plan."""

    area = "cluster"


class TrainingError(StratumError):
    """Training failed on the cluster (every candidate failed, or the run was interrupted)."""

    area = "training"


class RegistryError(StratumError):
    """A model or version is missing, or an artifact failed its integrity check."""

    area = "registry"


class BundleError(StratumError):
    """A model bundle cannot be built or read."""

    area = "bundle"


class DeployError(StratumError):
    """A deployment cannot be generated or run (bad inventory, unreachable host...)."""

    area = "deploy"


class SuperviseError(StratumError):
    """A supervision policy is invalid, or the supervisor cannot reach what it watches."""

    area = "supervise"
