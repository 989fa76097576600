"""Per-team quotas for a Dask Gateway behind JupyterHub (dask-gateway-server side).

dask-gateway limits each cluster, not a group of users. With hub groups ``team-<T>`` (see
:mod:`.permissions`) this adds a quota per team: how many clusters the team's members may run at
once, and how many workers each may have. A cluster counts against one team: the ``team`` cluster
option, or the user's only team. A request over quota is refused with a message naming the
team, the clusters in use and who can raise the quota.

In a gateway config file (after the backend and ``c.Backend.cluster_options`` are set)::

    from jupyter_stratum.team.gateway import apply_team_quotas
    apply_team_quotas(c, {"fraud": {"clusters": 2, "workers": 4}, "*": {"clusters": 1, "workers": 2}})

``"*"`` is the quota of a team not listed; a team with neither gets no cluster. This module runs
inside dask-gateway-server only (it imports it).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from .permissions import ADMIN_HINT, TeamUser

QUOTAS_ENV = "STRATUM_GATEWAY_TEAM_QUOTAS"
RAISE_HINT = f"{ADMIN_HINT.split(' (')[0]} can raise it (${QUOTAS_ENV} in the gateway's environment)"


@dataclass(frozen=True)
class TeamQuota:
    """What one team's members may run at once on the gateway."""

    clusters: int
    workers: int


def parse_quotas(value: str | dict[str, Any]) -> dict[str, TeamQuota]:
    """``{"fraud": {"clusters": 2, "workers": 4}, "*": {...}}`` (JSON text or a dict) -> TeamQuota per team."""
    raw = json.loads(value) if isinstance(value, str) else value
    if not isinstance(raw, dict):
        raise ValueError(f"{QUOTAS_ENV} must be a JSON object of team -> {{clusters, workers}}, got {raw!r}")
    quotas = {}
    for team, limits in raw.items():
        try:
            quotas[team] = TeamQuota(clusters=int(limits["clusters"]), workers=int(limits["workers"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"The quota of team {team!r} must look like {{'clusters': 2, 'workers': 4}}, got {limits!r}"
            ) from None
    return quotas


def team_of(user: Any, requested: str) -> str:
    """The team a new cluster of ``user`` (a dask-gateway User, with hub groups) counts against."""
    member = TeamUser(user.name, frozenset(user.groups))
    teams = sorted(
        {*member.teams, *(g[5:-9] for g in member.groups if g.startswith("team-") and g.endswith("-trainers"))}
    )
    if requested:
        if requested not in teams:
            raise PermissionError(
                f"{user.name} is not in team {requested!r} (hub group 'team-{requested}'); "
                f"your teams: {', '.join(teams) or 'none'}. Ask {ADMIN_HINT} to add you."
            )
        return requested
    if not teams:
        raise PermissionError(
            f"{user.name} is in no team, and Dask Gateway clusters count against a team's quota. "
            f"Ask {ADMIN_HINT} to add you to a hub group 'team-<T>'."
        )
    if len(teams) > 1:
        raise PermissionError(
            f"{user.name} is in several teams ({', '.join(teams)}): say which one the cluster counts "
            f"against, e.g. gateway.new_cluster(team={teams[0]!r})."
        )
    return teams[0]


class TeamQuotaMixin:
    """Put before a dask-gateway backend class: team quotas on cluster starts."""

    team_quotas: dict[str, TeamQuota] = {}

    def _quota_lock(self) -> asyncio.Lock:
        lock = getattr(self, "_stratum_quota_lock", None)
        if lock is None:
            lock = self._stratum_quota_lock = asyncio.Lock()
        return lock

    def _quota(self, team: str) -> TeamQuota:
        quota = self.team_quotas.get(team) or self.team_quotas.get("*")
        if quota is None:
            raise PermissionError(f"Team {team!r} has no Dask Gateway quota; {RAISE_HINT} to give it one.")
        return quota

    async def process_cluster_options(self, user, request):
        options, config = await super().process_cluster_options(user, request)  # type: ignore[misc,unused-ignore]
        quota = self._quota(options["team"])
        current = config.cluster_max_workers
        config.cluster_max_workers = quota.workers if current is None else min(current, quota.workers)
        return options, config

    async def start_cluster(self, user, cluster_options):
        from dask_gateway_server.backends.base import PublicException

        try:
            team = team_of(user, str(cluster_options.get("team") or ""))
            self._quota(team)
        except PermissionError as exc:
            raise PublicException(str(exc)) from None
        async with self._quota_lock():  # no other start between counting and creating
            running = [c for c in await self.list_clusters() if c.options.get("team") == team]  # type: ignore[attr-defined,unused-ignore]
            quota = self._quota(team)
            if len(running) >= quota.clusters:
                owners = ", ".join(f"{c.username}'s {c.name[:8]}" for c in running) or "none"
                raise PublicException(
                    f"Team {team!r} has its Dask Gateway quota of {quota.clusters} cluster(s) in use ({owners}). "
                    "Shut one down (`cluster.shutdown()` where it was started; an idle cluster stops by itself "
                    f"after an hour), or ask: {RAISE_HINT}."
                )
            return await super().start_cluster(user, {**cluster_options, "team": team})  # type: ignore[misc,unused-ignore]


def apply_team_quotas(c: Any, quotas: str | dict[str, Any]) -> None:
    """Wrap the configured backend with :class:`TeamQuotaMixin` and add the ``team`` cluster option."""
    from dask_gateway_server.options import Options, String
    from traitlets.utils.importstring import import_item

    base = c.DaskGateway.backend_class
    base = import_item(base) if isinstance(base, str) else base
    backend = type(f"Team{base.__name__}", (TeamQuotaMixin, base), {"team_quotas": parse_quotas(quotas)})
    c.DaskGateway.backend_class = backend
    options = c.Backend.cluster_options
    fields = [f for f in options.fields if f.field != "team"]
    team = String("team", default="", label="Team the cluster counts against (default: your only team)")
    handler = options.handler

    def without_team(opts: Any, user: Any) -> dict[str, Any]:  # "team" is no ClusterConfig field
        return handler(opts, user) if handler else {k: v for k, v in opts.items() if k != "team"}

    c.Backend.cluster_options = Options(*fields, team, handler=without_team)
