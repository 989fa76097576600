"""Who may do what in the team registry, from JupyterHub groups (enforced by the service).

Groups, as the hub's config declares them (``c.JupyterHub.load_groups``):

- ``team-<T>``: viewer of team ``T``'s models (list, inspect, load);
- ``team-<T>-trainers``: trainer in ``T`` (register new models and versions in ``T``);
- ``fleet-<F>-deployers``: deployer for fleet ``F`` (move aliases such as ``champion`` of the models
  of their teams, record and update deployments and rollouts to ``F``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from ..errors import RegistryError

ADMIN_HINT = "a hub admin (Admin page, or `c.JupyterHub.load_groups` in jupyterhub_config.py)"


class PermissionDenied(RegistryError):
    """The hub user lacks the role an action needs; the message names it and who can grant it."""


@dataclass(frozen=True)
class ActionPermission:
    """May the user take an action? When not, ``reason`` is the service's refusal (the missing role, who grants it)."""

    allowed: bool
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def permission(check: Callable[[], None]) -> ActionPermission:
    """The answer ``check()`` (one of :class:`TeamUser`'s ``require_*``) gives, as a record: the reason
    shown beside a disabled action is the very message the service answers when the action is tried."""
    try:
        check()
    except PermissionDenied as exc:
        return ActionPermission(False, str(exc))
    return ActionPermission(True)


def fleets_of(group_names: Iterable[str]) -> list[str]:
    """The fleets that hub groups name (``fleet-<F>-deployers``)."""
    return sorted(g[6:-10] for g in group_names if g.startswith("fleet-") and g.endswith("-deployers"))


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

    def actions(self, team: str, model: str, fleets: list[str]) -> dict[str, ActionPermission]:
        """What the user may do with ``model`` of ``team``, ``fleets`` being every fleet the hub knows:
        ``register`` a version (trainer), move an ``alias`` and ``deploy`` (deployer for one of the fleets)."""
        return {
            "register": permission(lambda: self.require_train(team, model)),
            "alias": permission(lambda: self.require_deploy_any(fleets, f"move the aliases of {model!r}")),
            "deploy": permission(lambda: self.require_deploy_any(fleets, f"deploy {model!r}")),
        }

    def require_deploy_any(self, fleets: list[str], action: str) -> None:
        """The deployer role for at least one of ``fleets`` (which one is asked when the action is taken)."""
        if any(self.can_deploy(f) for f in fleets):
            return
        if len(fleets) == 1:
            self.require_deploy(fleets[0], action)
        groups = " or ".join(f"'fleet-{f}-deployers'" for f in fleets) or "'fleet-<FLEET>-deployers'"
        raise PermissionDenied(
            f"{self.name} may not {action}: that needs the deployer role for a fleet (hub group {groups}). "
            f"Ask {ADMIN_HINT} to add you to it."
        )

    def require_deploy(self, fleet: str, action: str) -> None:
        if not self.can_deploy(fleet):
            raise PermissionDenied(
                f"{self.name} may not {action}: that needs the deployer role for fleet {fleet!r} "
                f"(hub group 'fleet-{fleet}-deployers'). Ask {ADMIN_HINT} to add you to it."
            )

    def require_fleet_write(self, team: str, model: str, fleet: str, action: str) -> None:
        """Write a deployment or rollout record of ``model`` (of ``team``) for ``fleet`` (create or
        update): a member of the team who is deployer for the fleet. The one rule for every such write."""
        self.require_view(team, model)
        if not fleet:
            raise PermissionDenied(
                f"{self.name} may not {action}: the record names no fleet. Name it ('fleet' in the record; in a "
                "kernel set STRATUM_FLEET) — you need the deployer role for it (hub group 'fleet-<FLEET>-deployers')."
            )
        self.require_deploy(fleet, action)
