"""Who may do what in the team registry, from JupyterHub groups (enforced by the service).

Groups, as the hub's config declares them (``c.JupyterHub.load_groups``):

- ``team-<T>``: viewer of team ``T``'s models (list, inspect, load);
- ``team-<T>-trainers``: trainer in ``T`` (register new models and versions in ``T``);
- ``fleet-<F>-deployers``: deployer for fleet ``F`` (move aliases such as ``champion`` of the models
  of their teams, record deployments to ``F``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RegistryError

ADMIN_HINT = "a hub admin (Admin page, or `c.JupyterHub.load_groups` in jupyterhub_config.py)"


class PermissionDenied(RegistryError):
    """The hub user lacks the role an action needs; the message names it and who can grant it."""


@dataclass(frozen=True)
class TeamUser:
    """A hub user as the registry service sees them."""

    name: str
    groups: frozenset[str]

    @property
    def teams(self) -> list[str]:
        return sorted(g[5:] for g in self.groups if g.startswith("team-") and not g.endswith("-trainers"))

    def can_view(self, team: str) -> bool:
        return f"team-{team}" in self.groups or f"team-{team}-trainers" in self.groups

    def can_train(self, team: str) -> bool:
        return f"team-{team}-trainers" in self.groups

    def can_deploy(self, fleet: str) -> bool:
        return f"fleet-{fleet}-deployers" in self.groups

    def require_view(self, team: str, model: str) -> None:
        if not self.can_view(team):
            raise PermissionDenied(
                f"{self.name} may not see {model!r}: it belongs to team {team!r} (viewer role: hub group "
                f"'team-{team}'). Ask {ADMIN_HINT} to add you to that group."
            )

    def require_train(self, team: str, model: str) -> None:
        if not self.can_train(team):
            raise PermissionDenied(
                f"{self.name} may not register {model!r} in team {team!r}: that needs the trainer role "
                f"(hub group 'team-{team}-trainers'). Ask {ADMIN_HINT} to add you to it."
            )

    def require_deploy(self, fleet: str, action: str) -> None:
        if not self.can_deploy(fleet):
            raise PermissionDenied(
                f"{self.name} may not {action}: that needs the deployer role for fleet {fleet!r} "
                f"(hub group 'fleet-{fleet}-deployers'). Ask {ADMIN_HINT} to add you to it."
            )
