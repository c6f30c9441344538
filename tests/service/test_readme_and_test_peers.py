"""What the README promises about the tests and the examples (issue 8 item 24)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.conftest import require
from tests.service.processes import ROOT


def test_the_readme_csv_is_examples_org_csv():
    """Issue 8 item 24: the inline CSV in the README is examples/org.csv."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [inline] = re.findall(r"```csv\n(.*?)```", readme, re.DOTALL)
    assert inline == (ROOT / "examples/org.csv").read_text(encoding="utf-8")


def test_a_missing_peer_is_a_visible_skip_locally_and_a_failure_in_ci(monkeypatch):
    """Issue 8 item 24: without Redis or Chromium a test is skipped with its reason shown
    (pytest runs with -rs), and in CI (CI=true) it fails instead."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "-rs" in options["tool"]["pytest"]["ini_options"]["addopts"]
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis is not available"):
        require("Redis", False, "start Redis")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Redis is required in CI"):
        require("Redis", False, "start Redis")
    require("Redis", True, "start Redis")  # present: nothing happens
