"""One line of the team's Models panel, as the registry service answers ``GET api/models``: the model's
summary, its team and owner (the hub user who trained its latest version), its aliases, its last
deployment, and what the asking user may do with it, each refusal with the service's own reason."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..registry.events import Alias
from ..registry.model_version import ModelSummary
from .permissions import ActionPermission


@dataclass(frozen=True)
class LastDeployment:
    """The newest deployment recorded for a model: which version, to which fleet, by whom, when."""

    version: int
    fleet: str
    user: str
    time: str
    action: str = ""
    status: str = ""


@dataclass(frozen=True)
class TeamModel:
    """A model as one team member sees it in the team registry."""

    summary: ModelSummary
    team: str
    owner: str
    aliases: list[Alias] = field(default_factory=list)
    last_deployment: LastDeployment | None = None
    actions: dict[str, ActionPermission] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.summary.name

    def to_dict(self) -> dict[str, Any]:
        """The summary's fields, flat (what the sidebar's ``IModelSummary`` reads), with the team's."""
        return {
            **self.summary.to_dict(),
            "team": self.team,
            "owner": self.owner,
            "aliases": [a.to_dict() for a in self.aliases],
            "last_deployment": dataclasses.asdict(self.last_deployment) if self.last_deployment else None,
            "actions": {k: a.to_dict() for k, a in self.actions.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeamModel:
        summary_fields = {f.name for f in dataclasses.fields(ModelSummary)}
        last = data.get("last_deployment")
        return cls(
            summary=ModelSummary(**{k: v for k, v in data.items() if k in summary_fields}),
            team=str(data["team"]),
            owner=str(data.get("owner") or ""),
            aliases=[Alias(**a) for a in data.get("aliases") or []],
            last_deployment=LastDeployment(**last) if last else None,
            actions={k: ActionPermission(**a) for k, a in (data.get("actions") or {}).items()},
        )
