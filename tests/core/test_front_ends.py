"""The %stratum magics (without a kernel, the jupyter-ai way), the stratum CLI, and lazy imports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_stratum.registry import open_registry

HEAVY = ("dask", "distributed", "tensorflow", "bokeh", "ansible", "ansible_runner")


def test_import_and_load_ext_import_nothing_heavy():
    code = textwrap.dedent(f"""\
        import sys, json
        import jupyter_stratum
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.extension_manager.load_extension("jupyter_stratum")
        assert "stratum" in shell.magics_manager.magics["line"]
        assert "stratum" in shell.magics_manager.magics["cell"]
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_plan_and_spec_import_nothing_heavy():
    code = textwrap.dedent(f"""\
        import sys, json
        from jupyter_stratum.training import dry_run
        plan = dry_run("data: sklearn:iris\\nmodels: [logistic_regression, random_forest]\\n")
        assert plan.n_tasks == 10
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.fixture
def shell(dask_cluster, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("STRATUM_SCHEDULER", dask_cluster.address)
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("jupyter_stratum")
    yield shell
    shell.user_ns.pop("df", None)


CELL = """\
data: df
target: label
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1]}
  - decision_tree: {max_depth: 3}
metric: roc_auc
"""


@pytest.mark.cluster
def test_cell_magic_trains_registers_and_returns_result(shell, capsys):
    from sklearn.datasets import load_breast_cancer

    shell.user_ns["df"] = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    plan = shell.run_cell_magic("stratum", "train churn --dry-run", CELL)
    assert plan.n_tasks == 9 and [c.id for c in plan.candidates] == [
        "logistic_regression(C=0.1)",
        "logistic_regression(C=1)",
        "decision_tree",
    ]
    assert open_registry().names() == []  # a dry run trains and registers nothing

    result = shell.run_cell_magic("stratum", "train churn", CELL)
    assert result.version.ref == "churn@1"
    assert result.leaderboard.candidates[0] is result.best
    html = result._repr_html_()
    assert "Leaderboard" in html and "logistic_regression(C=0.1)" in html and "± " in html

    models = shell.run_line_magic("stratum", "models")
    assert [r["model"] for r in models.rows] == ["churn"] and models.rows[0]["latest"] == "v1"
    shown = shell.run_line_magic("stratum", "show churn@1")
    text = shown.to_text()
    assert "churn@1" in text and "sha256" in text and "logistic_regression" in text.split("Spec:")[1]


def _failing_cell(shell, source: str, capsys) -> str:
    """Run ``source`` as a cell, as a kernel would: it must fail (so Run All stops), and show one message."""
    result = shell.run_cell(source)
    assert not result.success, "a user error must fail the cell, or Run All and papermill carry on past it"
    printed = capsys.readouterr()
    return re.sub(r"\x1b\[[0-9;]*m", "", printed.out + printed.err)  # the heading is bold red


def test_user_mistake_fails_the_cell_with_one_message_not_a_traceback(shell, capsys):
    shell.user_ns["df"] = None
    printed = _failing_cell(shell, "%%stratum train oops\ndata: df\nmodels: [random_forrest]\n", capsys)
    assert "stratum spec error" in printed and "Did you mean 'random_forest'" in printed
    assert "Traceback" not in printed and "Planning" not in printed and "Training" not in printed
    assert len([line for line in printed.splitlines() if "stratum spec error" in line]) == 1
    printed = _failing_cell(shell, "%stratum show nothing", capsys)
    assert "stratum registry error: No model named 'nothing'" in printed and "Traceback" not in printed
    printed = _failing_cell(shell, "%stratum trian", capsys)
    assert "Unknown command 'trian'. Did you mean 'train'?" in printed and "%stratum help" in printed
    # the exception keeps the original one, for papermill users who catch it
    with pytest.raises(Exception) as info:
        shell.run_cell_magic("stratum", "train oops", "data: df\nmodels: [random_forrest]\n")
    from jupyter_stratum.errors import SpecError

    assert isinstance(info.value.error, SpecError)


def test_magic_help_lists_commands(shell, capsys):
    for line in ("", "help"):
        shell.run_line_magic("stratum", line)
        printed = capsys.readouterr().out
        for command in ("train", "models", "show", "catalog", "cluster"):
            assert command in printed
        assert "%stratum help COMMAND" in printed
    shell.run_line_magic("stratum", "help cluster")
    printed = capsys.readouterr().out
    assert "usage: %stratum cluster" in printed


def _cli(*args, env=None, cwd=None):
    return subprocess.run(
        [str(Path(sys.executable).parent / "stratum"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )


def test_cli_help_command_prints_its_options():
    for args in (("help", "train"), ("train", "--help")):
        out = _cli(*args)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("usage: stratum train")
        for option in ("--name", "--cluster", "--dry-run", "--no-register", "--report"):
            assert option in out.stdout
        assert "Traceback" not in out.stderr
    out = _cli("help")
    assert out.returncode == 0 and "usage: stratum" in out.stdout
    for command in ("train", "models", "show", "catalog", "cluster", "bundle", "deploy"):
        assert command in out.stdout
    out = _cli("help", "trian")
    assert out.returncode != 0 and "Did you mean 'train'?" in out.stderr


@pytest.mark.cluster
def test_cli_train_models_show(tmp_path, dask_cluster):
    spec = tmp_path / "iris.yaml"
    spec.write_text(
        "data: sklearn:iris\nsplit: {cv: 3}\nmodels:\n  - logistic_regression: {C: [0.5, 2]}\nmetric: accuracy\n"
    )
    out = _cli("train", str(spec), "--cluster", dask_cluster.address)
    assert out.returncode == 0, out.stderr
    assert "Leaderboard (by accuracy" in out.stdout and "Registered as iris@1" in out.stdout
    assert "tasks" in out.stderr  # progress lines
    models = _cli("models")
    assert models.returncode == 0 and "iris" in models.stdout and "v1" in models.stdout
    shown = _cli("show", "iris@1")
    assert shown.returncode == 0 and "LogisticRegression" in shown.stdout


def test_cli_user_error_exit_code_and_message(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("data: sklearn:iris\nmodels:\n  - logistic_regression: {C: abc}\n")
    out = _cli("train", str(spec))
    assert out.returncode == 2
    assert "line 3" in out.stderr and "C must be a float" in out.stderr and "Traceback" not in out.stderr
    missing = _cli("train", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "Spec file not found" in missing.stderr
    dry = _cli("train", str(spec).replace("bad", "nope"), "--dry-run")
    assert dry.returncode == 2


def test_cli_dry_run_shows_plan(tmp_path):
    spec = tmp_path / "plan.yaml"
    spec.write_text(
        "data: sklearn:wine\nsplit: {cv: 4}\nmodels:\n  - random_forest: {n_estimators: [10, 20]}\n  - algorithm: svc\n    resources: {GPU: 1}\n"
    )
    out = _cli("train", str(spec), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "3 candidates × 4 folds = 12 tasks" in out.stdout
    assert "GPU=1" in out.stdout and "random_forest(n_estimators=10)" in out.stdout
