"""(a) A 3-step pipeline served fused (one ``stratum_serve`` process running the graph in process) vs the same
three models as three ``stratum_serve`` processes chained over HTTP.

The pipeline is a cascade on breast cancer (30 float columns)::

    screen: logistic regression        (every row)
    route:  screen.score > 0.8 ? deep : fast
    deep:   random forest, 200 trees   (the rows the screen is confident about)
    fast:   strongly regularised LR    (the others)

registered with ``register_pipeline`` and bundled with ``stratum bundle`` (every model with its ONNX copy).
Chained: each model bundled alone and served by its own process; a router process (Python's
``ThreadingHTTPServer``, one kept-alive ``http.client`` connection per thread and model, the shape of a
KServe InferenceGraph router) posts the rows to ``screen`` and then to ``deep`` or ``fast``. Both answer
the same ``POST /predict``, checked equal on the test rows before measuring.

wrk (one thread, keep-alive) sends 1-row requests at each concurrency (default c = 1 and 64) for
``--duration`` s, the two set-ups taking turns; the table gives requests/s and p50/p99 and the ratios
(issue 15's target: fused >= 2x chained in throughput at c=64 and in p50 at c=1). Ports 9170-9174.
Needs ``wrk``; run it alone on the machine (it starts 5 servers), and report ``uptime`` with the figures.

    python benchmarks/pipelines/fused_vs_chained.py [--duration 5] [--levels 1,64] [--rounds 2] [--check]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "serving"))

from bench import REPO, build_bundles, fit_models, settle, stop, wrk  # noqa: E402
from concurrency import uptime, wait_ready  # noqa: E402

FUSED, SCREEN, DEEP, FAST, ROUTER = 9170, 9171, 9172, 9173, 9174
PIPELINE = """\
steps:
  - screen: {model: logistic-regression@1}
  - route:  {switch: "screen.score > 0.8", then: deep, else: fast}
  - deep:   {model: random-forest-200@1}
  - fast:   {model: fast-lr@1}
output: route
"""


def serve(bundle: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "jupyter_stratum.serve", str(bundle), "--port", str(port), "--no-drift"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Router(BaseHTTPRequestHandler):
    """``POST /predict``: the cascade over HTTP, one kept-alive connection per thread and model."""

    protocol_version = "HTTP/1.1"
    # the head and the body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the body until
    # the client's delayed ACK (40 ms per request), which would measure the kernel, not the chaining
    disable_nagle_algorithm = True
    local = threading.local()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _post(self, port: int, body: bytes) -> dict:
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        if port not in conns:
            conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conns[port].connect()
            conns[port].sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = conns[port]
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return json.loads(resp.read())

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """``/v2/health/ready``: ready once the three models are (``settle`` asks it between runs)."""
        for port in (SCREEN, DEEP, FAST):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", "/v2/health/ready")
            conn.getresponse().read()
            conn.close()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        records = json.loads(body)["records"]
        screened = self._post(SCREEN, body)
        sure = [i for i, p in enumerate(screened["probabilities"]) if p[-1] > 0.8]
        other = [i for i in range(len(records)) if i not in set(sure)]
        predictions: list = [None] * len(records)
        probabilities: list = [None] * len(records)
        for port, rows in ((DEEP, sure), (FAST, other)):
            if rows:
                part = self._post(port, json.dumps({"records": [records[i] for i in rows]}).encode())
                for i, label, proba in zip(rows, part["predictions"], part["probabilities"]):
                    predictions[i], probabilities[i] = label, proba
        out = json.dumps({"predictions": predictions, "probabilities": probabilities}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def post(port: int, payload: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/predict", body=json.dumps(payload), headers={"Content-Type": "application/json"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--levels", default="1,64", help="concurrencies (default 1,64)")
    ap.add_argument("--rounds", type=int, default=2, help="turns of fused and chained per level (default 2)")
    ap.add_argument("--out", default=str(HERE / "fused_vs_chained_results.json"))
    ap.add_argument("--check", action="store_true", help="only build, start and compare the answers; no wrk")
    args = ap.parse_args()
    if not args.check and not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.registry.pipelines import register_pipeline

    levels = [int(c) for c in args.levels.split(",")]
    results: dict = {"command": " ".join(["python", *sys.argv]), "uptime_before": uptime(), "runs": []}
    procs: list[subprocess.Popen] = []
    router = None
    with tempfile.TemporaryDirectory(prefix="stratum-fused-") as tmp:
        work = Path(tmp)
        X_train, X_test, models = fit_models()
        y_train = load_breast_cancer(as_frame=True).target.loc[X_train.index]
        models["fast_lr"] = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000)).fit(
            X_train, y_train
        )
        singles = build_bundles(models, X_train, X_test, work)
        registry = open_registry(work / "registry")
        mv = register_pipeline(registry, "cascade", PIPELINE)
        fused = build_bundle(mv.ref, work / "cascade", registry=registry, tarball=False)
        print(f"# fused bundle: {fused.manifest['onnx']['reason']}", flush=True)
        try:
            for bundle, port in (
                (fused.path, FUSED),
                (singles["logistic_regression"], SCREEN),
                (singles["random_forest_200"], DEEP),
                (singles["fast_lr"], FAST),
            ):
                procs.append(serve(bundle, port))
                wait_ready(port, procs[-1])
            router = ThreadingHTTPServer(("127.0.0.1", ROUTER), Router)
            router.daemon_threads = True
            threading.Thread(target=router.serve_forever, daemon=True).start()

            records = X_test.to_dict(orient="records")
            a, b = post(FUSED, {"records": records}), post(ROUTER, {"records": records})
            assert a["predictions"] == b["predictions"], "fused and chained disagree"
            print(f"# fused and chained agree on {len(records)} rows", flush=True)
            if args.check:
                return 0
            body = json.dumps({"records": records[:1]})
            lua = work / "post.lua"
            for c in levels:
                for port in (FUSED, ROUTER):
                    wrk(port, body, c, 1, lua)  # warm-up
                for r in range(args.rounds):
                    for name, port in (("fused", FUSED), ("chained", ROUTER)):
                        settle(port)
                        run = {"setup": name, "c": c, "round": r, **wrk(port, body, c, args.duration, lua)}
                        results["runs"].append(run)
                        print(json.dumps(run), flush=True)
        finally:
            if router is not None:
                router.shutdown()
            for proc in procs:
                stop(proc)
    results["uptime_after"] = uptime()
    results["summary"] = summary(results["runs"], levels)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(markdown(results["summary"]))
    print(f"uptime before: {results['uptime_before']}; after: {results['uptime_after']}")
    return 0


def summary(runs: list[dict], levels: list[int]) -> list[dict]:
    """Per level and set-up: the best round's requests/s and its p50/p99 (the rounds absorb other load)."""
    out = []
    for c in levels:
        row: dict = {"c": c}
        for name in ("fused", "chained"):
            mine = [r for r in runs if r["c"] == c and r["setup"] == name]
            best = max(mine, key=lambda r: r["rps"])
            row[name] = {k: best[k] for k in ("rps", "p50_ms", "p99_ms", "non_2xx")}
        row["rps_ratio"] = row["fused"]["rps"] / row["chained"]["rps"]
        row["p50_ratio"] = row["chained"]["p50_ms"] / row["fused"]["p50_ms"]
        out.append(row)
    return out


def markdown(rows: list[dict]) -> str:
    lines = [
        "| c | fused req/s | chained req/s | x | fused p50 ms | chained p50 ms | x | fused p99 | chained p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f, ch = r["fused"], r["chained"]
        lines.append(
            f"| {r['c']} | {f['rps']:.0f} | {ch['rps']:.0f} | {r['rps_ratio']:.2f} | {f['p50_ms']:.3f} | "
            f"{ch['p50_ms']:.3f} | {r['p50_ratio']:.2f} | {f['p99_ms']:.3f} | {ch['p99_ms']:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
