"""JupyterHub config of the team recipe: three users in two teams, the stratum-registry service
(PostgreSQL + an artifact directory), group-based roles. The values that differ per machine
(ports, paths, the PostgreSQL URL, tokens) come from the JSON file ``$STRATUM_TEAM_SETTINGS`` that
``cluster/team/launch.py`` (or a test) writes; for a real hub, write them in here.

Groups (see jupyter_stratum/team/permissions.py): ``team-<T>`` viewer of team T, ``team-<T>-trainers``
trainer in T, ``fleet-<F>-deployers`` deployer for fleet F.
"""

import json
import os

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)
s = json.load(open(os.environ["STRATUM_TEAM_SETTINGS"]))

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = s["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = s["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['proxy_api']}"
c.ConfigurableHTTPProxy.command = [s["chp"]]
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"
# try-it mode: any password logs in (DummyAuthenticator); use your site's authenticator for real
c.JupyterHub.authenticator_class = "dummy"
if s.get("password"):
    c.DummyAuthenticator.password = s["password"]
users = sorted({u for members in s["groups"].values() for u in members})
c.Authenticator.allowed_users = set(users)
c.Authenticator.admin_users = set(s.get("admins", []))
c.JupyterHub.load_groups = {group: {"users": members} for group, members in s["groups"].items()}

service_env = {
    "STRATUM_REGISTRY_DSN": s["dsn"],
    "STRATUM_ARTIFACTS_URL": s["artifacts"],
    "STRATUM_HOME": s["home"],
    "PYTHONPATH": s.get("repo", ""),
}
c.JupyterHub.services = [
    {
        "name": "stratum-registry",
        "url": f"http://127.0.0.1:{s['service_port']}",
        "command": [s["python"], "-m", "jupyter_stratum.team.service", "--port", str(s["service_port"])],
        "environment": service_env,
        "display": True,
    },
    *([{"name": "stratum-admin", "api_token": s["admin_token"]}] if s.get("admin_token") else []),
]
gateway = s.get("gateway_port")
if gateway:  # Dask Gateway: each user's own clusters, logged in with their hub token, quotas per team
    c.JupyterHub.services.append(
        {
            "name": "dask-gateway",
            "command": [
                os.path.join(os.path.dirname(s["python"]), "dask-gateway-server"),
                "-f",
                os.path.join(s["repo"], "cluster", "team", "dask_gateway_config.py"),
            ],
            "environment": {
                "STRATUM_GATEWAY_BACKEND": "local-unsafe",  # workers run as the hub's user; "local" as each user
                "STRATUM_GATEWAY_AUTH": "jupyterhub",
                "STRATUM_GATEWAY_ADDRESS": f"127.0.0.1:{gateway}",
                "STRATUM_GATEWAY_TEAM_QUOTAS": json.dumps(s.get("gateway_quotas") or {}),
                "PYTHONPATH": s.get("repo", ""),
            },
        }
    )
c.JupyterHub.load_roles = [
    # every user may call the registry service with their token (kernels: $JUPYTERHUB_API_TOKEN)
    {
        "name": "user",
        "scopes": [
            "self",
            "access:services!service=stratum-registry",
            *(["access:services!service=dask-gateway"] if gateway else []),
        ],
    },
    # the service reads users' groups to decide who may do what, and lists the hub's groups to
    # name the fleets (fleet-<F>-deployers) in the reason beside an action a user may not take
    {
        "name": "stratum-registry",
        "scopes": ["read:users:groups", "read:users:name", "list:groups"],
        "services": ["stratum-registry"],
    },
    *(
        [{"name": "stratum-admin", "scopes": ["admin:users", "tokens"], "services": ["stratum-admin"]}]
        if s.get("admin_token")
        else []
    ),
]
# single-user servers (when spawned) point the kernels at the service
# and at the gateway, which they log in to with their own $JUPYTERHUB_API_TOKEN
# (so that token must carry the services' access scopes, not only the default server role's)
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=stratum-registry",
    *(["access:services!service=dask-gateway"] if gateway else []),
]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "STRATUM_REGISTRY_URL": f"http://127.0.0.1:{s['port']}/services/stratum-registry/",
    **(
        {"DASK_GATEWAY__ADDRESS": f"http://127.0.0.1:{gateway}", "DASK_GATEWAY__AUTH__TYPE": "jupyterhub"}
        if gateway
        else {}
    ),
}
if s.get("homes"):  # try-it mode: notebook servers run as the hub's own OS user, one home dir each
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = s["homes"] + "/{username}"
    c.Spawner.cmd = [os.path.join(os.path.dirname(s["python"]), "jupyterhub-singleuser")]  # this environment's
    c.Spawner.args = ["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []
    c.Spawner.http_timeout = c.Spawner.start_timeout = 180  # a busy machine starts JupyterLab slowly
