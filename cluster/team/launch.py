"""Try team mode on one machine: PostgreSQL (Debian's packages), JupyterHub with
configurable-http-proxy, the stratum-registry service and a Dask Gateway (each user's own clusters,
one cluster of 2 workers per team at a time), in a temporary directory.

    python cluster/team/launch.py            # prints the hub's URL and how to log in; Ctrl-C stops all
    python cluster/team/launch.py --check    # start, check the service answers, stop (for CI)

Users ana and ben are in team fraud (ana trains, ben deploys to fleet plant-a), cat is in team
churn. For running the same pieces for real, see docs/team.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import urllib.error
import urllib.request

#: per-team Dask Gateway quotas (cluster/team/dask_gateway_config.py)
GATEWAY_QUOTAS = {"*": {"clusters": 1, "workers": 2}}
GROUPS = {
    "team-fraud": ["ana", "ben"],
    "team-fraud-trainers": ["ana"],
    "team-churn": ["cat"],
    "team-churn-trainers": ["cat"],
    "fleet-plant-a-deployers": ["ben"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--password", default="stratum", help="the password every try-it user logs in with")
    parser.add_argument("--check", action="store_true", help="start, check the registry service, stop")
    args = parser.parse_args(argv)
    from jupyter_stratum.testing.team_hub import LocalTeamHub

    hub = LocalTeamHub(GROUPS, password=args.password, admins=("ana",), gateway_quotas=GATEWAY_QUOTAS)
    print("starting PostgreSQL, JupyterHub, the stratum-registry service and the Dask Gateway ...", flush=True)
    hub.start()
    try:
        token = hub.token_for("ana")
        request = urllib.request.Request(hub.service_url + "api/whoami", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            whoami = response.read().decode()
        print(
            f"""
JupyterHub:        {hub.url}   (log in as ana, ben or cat; password: {args.password})
Registry service:  {hub.service_url}   (ana's view: {whoami})
Dask Gateway:      {hub.gateway_url}   (your own hub token; one cluster of 2 workers per team)
PostgreSQL:        {hub.postgres.dsn}
Work directory:    {hub.workdir}   (hub.log)

In a notebook on the hub, jupyter_stratum uses the service (STRATUM_REGISTRY_URL and the user's
$JUPYTERHUB_API_TOKEN). From a shell:
  STRATUM_REGISTRY_URL={hub.service_url} STRATUM_REGISTRY_TOKEN={token} stratum models
and `%stratum cluster gateway --workers 2` (or jupyter_stratum.connect(gateway=True)) gets the
user's own Dask cluster, logged in with the same token.
""",
            flush=True,
        )
        if args.check:
            return 0
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        print("stopping ...", flush=True)
        hub.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
