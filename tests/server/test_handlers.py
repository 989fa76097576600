"""The sidebar's REST API, through a real jupyter_server (pytest-jupyter's ``jp_fetch``).

``jp_fetch``'s base_url is ``/a%40b/``, not ``/``: a route that ignored the
server's base_url would answer 404 here. Every answer is compared with the core
function the handler is meant to pass through, so a handler that adds, drops or
re-validates anything fails.
"""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stratum.catalog import catalog_json, resolve
from jupyter_stratum.errors import RegistryError
from jupyter_stratum.jsonsafe import to_jsonable
from jupyter_stratum.spec import PipelineSpec, parse_spec, validate_text

NS = "jupyter-stratum"

GOOD = """\
data: sklearn:breast_cancer
split: {test_size: 0.25, cv: 3, seed: 1}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1.0]}
  - random_forest: {n_estimators: 20}
metric: roc_auc
"""

BAD_C = """\
data: sklearn:breast_cancer
models:
  - logistic_regression:
      C: -1
metric: accuracy
"""


async def get_json(jp_fetch, *parts, **kwargs):
    response = await jp_fetch(NS, *parts, **kwargs)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def post_json(jp_fetch, *parts, body):
    response = await jp_fetch(NS, *parts, method="POST", body=json.dumps(body))
    assert response.code == 200
    return json.loads(response.body)


async def error_of(jp_fetch, *parts, **kwargs) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(NS, *parts, **kwargs)
    body = info.value.response.body
    return info.value.code, (json.loads(body) if body else {})


# ---------------------------------------------------------------- routing and auth
@pytest.mark.parametrize(
    "parts,method",
    [
        (("catalog",), "GET"),
        (("spec", "schema"), "GET"),
        (("spec", "validate"), "POST"),
        (("models",), "GET"),
        (("models", "churn"), "GET"),
        (("deployments",), "GET"),
        (("metrics",), "GET"),
        (("cluster",), "GET"),
    ],
)
async def test_every_route_refuses_an_unauthenticated_request(jp_fetch, parts, method):
    body = json.dumps({"yaml": GOOD}) if method == "POST" else None
    code, _ = await error_of(
        jp_fetch, *parts, method=method, body=body, headers={"Authorization": "token not-the-token"}
    )
    assert code == 403


async def test_routes_live_under_the_servers_base_url(jp_fetch, jp_base_url, http_server_client, jp_auth_header):
    assert jp_base_url != "/"
    # the same path without the base_url is not ours
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(f"/{NS}/cluster", headers=jp_auth_header)
    assert info.value.code == 404
    assert (await get_json(jp_fetch, "cluster"))["scheduler"] is None


# ---------------------------------------------------------------- catalog and spec
async def test_catalog_is_the_cores_catalog(jp_fetch):
    answer = await get_json(jp_fetch, "catalog")
    assert answer == json.loads(json.dumps(catalog_json()))
    by_name = {a["name"]: a for a in answer["algorithms"]}
    lr = by_name["logistic_regression"]
    assert lr["kind"] == "classifier" and lr["class_name"] == "LogisticRegression"
    assert lr["schema"]["properties"]["C"]["exclusiveMinimum"] == 0
    assert {"classifier", "regressor", "transformer"} <= {a["kind"] for a in answer["algorithms"]}


async def test_catalog_sends_the_cores_alias_resolution(jp_fetch):
    """The sidebar resolves a stem such as ``random_forest`` with this table, not a rule of its own."""
    answer = await get_json(jp_fetch, "catalog")
    assert answer["task_kinds"] == {"classification": "classifier", "regression": "regressor"}
    assert answer["resolves"], "no alias in the catalog"
    for alias, by_task in answer["resolves"].items():
        for task, name in by_task.items():
            if task == "default":
                kinds = ("transformer",) if by_name_kind(answer, name) == "transformer" else None
                assert name == resolve(alias, kinds=kinds).name
            else:
                assert name == resolve(alias, task=task).name
    forest = answer["resolves"]["random_forest"]
    assert forest["classification"] == "random_forest_classifier"
    assert forest["regression"] == "random_forest_regressor"


def by_name_kind(answer: dict, name: str) -> str:
    (kind,) = [a["kind"] for a in answer["algorithms"] if a["name"] == name]
    return kind


async def test_catalog_is_gzipped_for_clients_that_accept_it(jp_fetch):
    import gzip

    raw = await jp_fetch(NS, "catalog", headers={"Accept-Encoding": "gzip"}, decompress_response=False)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert len(raw.body) < 0.3 * len(json.dumps(catalog_json()))
    assert json.loads(gzip.decompress(raw.body)) == json.loads(json.dumps(catalog_json()))
    plain = await jp_fetch(NS, "catalog", headers={"Accept-Encoding": "identity"}, decompress_response=False)
    assert "Content-Encoding" not in plain.headers
    assert json.loads(plain.body) == json.loads(json.dumps(catalog_json()))


async def test_spec_schema_is_pipelinespecs_json_schema(jp_fetch):
    answer = await get_json(jp_fetch, "spec", "schema")
    assert answer == PipelineSpec.model_json_schema()
    assert set(answer["required"]) == {"data", "models"}


async def test_validate_a_good_spec_returns_the_normalised_yaml(jp_fetch):
    answer = await post_json(jp_fetch, "spec", "validate", body={"yaml": GOOD})
    assert answer["ok"] is True and answer["errors"] == []
    assert answer["yaml"] == parse_spec(GOOD).to_yaml()
    assert answer["spec"]["models"][0] == {"logistic_regression": {"C": [0.1, 1.0]}}
    assert answer == validate_text(GOOD)


async def test_validate_json_text_as_the_sidebar_sends_it(jp_fetch):
    doc = {"data": "sklearn:iris", "models": [{"random_forest": {"n_estimators": 10}}, "gradient_boosting"]}
    answer = await post_json(jp_fetch, "spec", "validate", body={"yaml": json.dumps(doc, indent=1)})
    assert answer["ok"] is True
    assert parse_spec(answer["yaml"]).to_dict() == answer["spec"]
    assert answer["spec"]["models"] == doc["models"]


async def test_validate_reports_the_cores_error_with_line_and_field(jp_fetch):
    answer = await post_json(jp_fetch, "spec", "validate", body={"yaml": BAD_C})
    assert answer == validate_text(BAD_C)
    assert answer["ok"] is False and answer["yaml"] is None
    (issue,) = answer["errors"]
    assert issue["path"] == ["models", 0, "params", "C"]
    assert issue["line"] == 4
    assert "C" in issue["message"]


async def test_validate_passes_the_task_through(jp_fetch):
    text = "data: sklearn:diabetes\nmodels: [logistic_regression]\n"
    answer = await post_json(jp_fetch, "spec", "validate", body={"yaml": text, "task": "regression"})
    assert answer == validate_text(text, "regression")
    assert answer["ok"] is False


async def test_validate_refuses_a_regressor_for_a_classification_task(jp_fetch):
    """What the builder's menu does not offer, the server's validation refuses (a cell typed by hand)."""
    text = "data: sklearn:iris\ntask: classification\nmodels: [random_forest_regressor]\n"
    answer = await post_json(jp_fetch, "spec", "validate", body={"yaml": text})
    assert answer == validate_text(text)
    assert answer["ok"] is False
    (issue,) = answer["errors"]
    assert issue["path"][:2] == ["models", 0] and "regressor" in issue["message"]


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"yaml": 3}).encode(), '"yaml"'),
        (json.dumps({"yaml": "data: x", "task": 5}).encode(), '"task"'),
    ],
)
async def test_validate_refuses_a_malformed_request_with_a_message(jp_fetch, body, needle):
    code, answer = await error_of(jp_fetch, "spec", "validate", method="POST", body=body)
    assert code == 400
    assert needle in answer["message"]


# ---------------------------------------------------------------- registry
def _register(name: str, **lineage):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_stratum.registry import open_registry

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    base = dict(
        algorithm="logistic_regression",
        task="classification",
        metric="accuracy",
        cv_score=0.95,
        holdout_score=0.97,
        params={"C": 1.0},
        spec_yaml="data: sklearn:iris\n",
        data_fingerprint="abc123",
    )
    base.update(lineage)
    return open_registry().register(name, model, lineage=base)


async def test_models_empty_registry(jp_fetch, stratum_home):
    assert await get_json(jp_fetch, "models") == []


async def test_models_lists_the_registry(jp_fetch):
    from jupyter_stratum.registry import open_registry

    _register("iris-clf")
    _register("iris-clf", cv_score=0.96)
    _register("other", metric="f1", cv_score=0.5)
    answer = await get_json(jp_fetch, "models")
    assert answer == [s.to_dict() for s in open_registry().list_models()]
    by_name = {m["name"]: m for m in answer}
    assert by_name["iris-clf"]["latest_version"] == 2 and by_name["iris-clf"]["n_versions"] == 2
    assert by_name["iris-clf"]["cv_score"] == pytest.approx(0.96)
    assert by_name["other"]["metric"] == "f1"


async def test_model_detail_has_versions_with_lineage_and_deployments(jp_fetch):
    from jupyter_stratum.registry import open_registry

    _register("iris-clf")
    v2 = _register(
        "iris-clf",
        holdout_score=0.9,
        sample={"records": [{"x0": 5.1, "x1": 3.5, "x2": 1.4, "x3": 0.2}], "expected": [0]},
    )
    assert v2.sample is not None and v2.sample.records  # stored, and the answer must leave it out
    reg = open_registry()
    reg.record_deployment(
        {"model": "iris-clf@2", "status": "ok", "hosts": [{"host": "edge1", "status": "changed"}], "password": "s3cret"}
    )
    answer = await get_json(jp_fetch, "models", "iris-clf")
    assert [v["version"] for v in answer["versions"]] == [1, 2]
    lineage = {k: v for k, v in v2.to_dict().items() if k not in ("sample", "reference")}
    assert answer["versions"][1] == lineage  # without the raw rows and reference statistics
    assert answer["versions"][1]["spec_yaml"] == "data: sklearn:iris\n"
    assert answer["versions"][1]["data_fingerprint"] == "abc123"
    # the lineage fields the sidebar shows: the record's own
    from jupyter_stratum.registry.model_version import lineage_fields

    assert answer["fields"] == lineage_fields()
    assert set(answer["fields"]) == set(v2.to_dict()) - {"sample", "reference"}  # raw rows: bundle builder, drift
    (dep,) = answer["deployments"]
    assert dep["model"] == "iris-clf@2" and dep["hosts"][0]["host"] == "edge1"
    assert "s3cret" not in json.dumps(answer)
    assert "x0" not in json.dumps(answer["versions"])


async def test_unknown_model_is_404_with_the_registrys_message(jp_fetch):
    from jupyter_stratum.registry import open_registry

    _register("iris-clf")
    code, answer = await error_of(jp_fetch, "models", "nope")
    assert code == 404
    with pytest.raises(RegistryError) as expected:
        open_registry().versions("nope")
    assert answer["message"] == str(expected.value)
    assert answer["area"] == "registry"


async def test_deployments_all_and_of_one_model(jp_fetch):
    from jupyter_stratum.registry import open_registry

    _register("a")
    _register("b")
    reg = open_registry()
    reg.record_deployment({"model": "a", "status": "ok", "hosts": []})
    reg.record_deployment({"model": "b@1", "status": "failed", "hosts": []})
    everything = await get_json(jp_fetch, "deployments")
    assert everything == to_jsonable(reg.list_deployments())
    assert [d["model"] for d in everything] == ["a@1", "b@1"]
    only_b = await get_json(jp_fetch, "deployments", params={"name": "b"})
    assert [d["status"] for d in only_b] == ["failed"]


# ---------------------------------------------------------------- metrics, cluster
async def test_metrics_are_the_evaluators_metrics(jp_fetch):
    from jupyter_stratum.evaluate.metrics import METRICS

    answer = await get_json(jp_fetch, "metrics")
    assert [m["name"] for m in answer] == list(METRICS)
    assert {m["task"] for m in answer} == {"classification", "regression"}


async def test_cluster_reports_the_configured_scheduler(jp_fetch, monkeypatch):
    assert await get_json(jp_fetch, "cluster") == {"scheduler": None, "embedded": True}
    monkeypatch.setenv("STRATUM_SCHEDULER", "tcp://10.0.0.5:8786")
    assert await get_json(jp_fetch, "cluster", params={"workers": "0"}) == {
        "scheduler": "tcp://10.0.0.5:8786",
        "embedded": False,
    }


async def test_cluster_lists_a_real_schedulers_workers_and_their_resources(jp_fetch, monkeypatch, dask_factory):
    from distributed import Client

    procs = dask_factory(workers={"cloud-1": (), "gpu-1": ("--resources", "GPU=1")}, nanny=False)
    monkeypatch.setenv("STRATUM_SCHEDULER", procs.address)
    answer = await get_json(jp_fetch, "cluster")
    assert answer["scheduler"] == procs.address and answer["embedded"] is False and answer["error"] is None
    with Client(procs.address, timeout=30, set_as_default=False) as client:
        truth = client.scheduler_info(n_workers=-1)["workers"]
    assert {w["address"] for w in answer["workers"]} == set(truth)
    by_name = {w["name"]: w for w in answer["workers"]}
    assert set(by_name) == {"cloud-1", "gpu-1"}
    assert by_name["gpu-1"]["resources"] == {"GPU": 1} and by_name["cloud-1"]["resources"] == {}
    assert by_name["gpu-1"]["memory_limit"] == truth[by_name["gpu-1"]["address"]]["memory_limit"]
    assert answer["resources"] == {"GPU": 1}


async def test_cluster_explains_a_scheduler_that_does_not_answer(jp_fetch, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STRATUM_SCHEDULER", f"tcp://127.0.0.1:{port}")
    answer = await get_json(jp_fetch, "cluster")
    assert answer["workers"] == [] and answer["scheduler"] == f"tcp://127.0.0.1:{port}"
    assert "does not answer" in answer["error"] and "unset STRATUM_SCHEDULER" in answer["error"]
