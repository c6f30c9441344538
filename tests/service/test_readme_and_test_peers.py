"""What the README promises about the tests and the examples (issue 8 item 24)."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.conftest import require
from tests.service.processes import ROOT


def test_the_readme_csv_is_examples_org_csv():
    """Issue 8 item 24: the README's inline org CSV is examples/org.csv."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    org = (ROOT / "examples/org.csv").read_text(encoding="utf-8")
    header = org.splitlines()[0]
    [inline] = [block for block in re.findall(r"```csv\n(.*?)```", readme, re.DOTALL)
                if block.startswith(header)]
    assert inline == org


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


def configuration_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| `"))


def test_the_configuration_table_names_every_setting():
    """The README's settings table (merged from many branches) lists every top-level,
    SMS and console setting of `service/config.py`, and only real ones."""
    from service.config import ConsoleSettings, Settings, SmsSettings

    first_cells = [row.split("|")[1] for row in configuration_table().splitlines()]
    named = {name for cell in first_cells for name in re.findall(r"`([a-z_.<>*]+)`", cell)}
    expected = {*Settings.model_fields} - {"boards", "sms", "telegram", "console", "wecom"}
    expected |= {f"sms.{name}" for name in SmsSettings.model_fields}
    expected |= {f"console.{name}" for name in ConsoleSettings.model_fields}
    missing = sorted(expected - named)
    assert not missing, f"settings missing from the README's table: {missing}"
    for name in named:
        assert name.split(".")[0] in Settings.model_fields, name


def test_the_quick_start_is_two_commands_and_names_both_addresses():
    """The quick start stays `./dev serve` and `./dev test`; it tells where /dev/sms and the
    console are, which `serve` logs (`service.app.serving_line`, `console.app`)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", quick.split("To see it work")[0], re.DOTALL)
    assert [line.split()[:2] for line in block.splitlines()] == [["./dev", "serve"],
                                                                 ["./dev", "test"]]
    assert "http://127.0.0.1:8080/dev/sms" in quick and "http://127.0.0.1:8081/" in quick
    assert "DUBAN_CONSOLE__PORT" in quick
