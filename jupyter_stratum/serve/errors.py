"""What can go wrong in the runtime: a bad bundle, a bad request, a bad pipeline spec."""

from __future__ import annotations


class BundleLoadError(Exception):
    """The bundle cannot be served (missing file, hash mismatch, missing library).

    The runtime prints the message and exits with status 2; it never starts
    half-loaded.
    """


class RequestError(Exception):
    """A client sent something the runtime will not run.

    ``status`` is the HTTP status, ``kind`` the label used in the
    ``stratum_request_errors_total{kind=...}`` metric, and the message names the
    field at fault and says what would be valid.
    """

    def __init__(self, message: str, status: int = 400, kind: str = "bad_request"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind


class PipelineError(Exception):
    """A pipeline spec that cannot run (unknown step kind, model or step; a malformed condition).

    The message names the step and the field at fault, as spec errors do; ``index`` (the step's place in
    ``steps``) and ``field`` say where, for a caller that maps them to a line of the YAML.
    """

    def __init__(self, message: str, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field
