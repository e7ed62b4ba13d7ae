"""``strata eval``: the quality evaluations, by name, from the admin CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tools.cli import app

runner = CliRunner()


def test_eval_runs_the_named_evaluation_with_its_own_options(tmp_path: Path) -> None:
    out = tmp_path / "seg.json"
    argv = ["eval", "segmentation", "--dataset", "soccer", "--matches", "1", "--vectors", "random", "--out", str(out)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert [row["level"] for row in json.loads(out.read_text())["soccer"]["rows"]][0] == "scene"


def test_eval_lists_its_evaluations_and_refuses_another_name() -> None:
    shown = runner.invoke(app, ["eval", "--help"])
    assert shown.exit_code == 0 and "retrieval" in shown.output and "segmentation" in shown.output, shown.output
    for argv, problem in ((["eval", "recall"], "no evaluation 'recall'"), (["eval"], "name an evaluation")):
        refused = runner.invoke(app, argv)
        assert refused.exit_code == 2 and f"error: {problem}; use one of retrieval, segmentation" in refused.output
    assert "Traceback" not in refused.output
