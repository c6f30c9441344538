"""The rule scenarios: `duban simulate` on tests/scenarios/rNN_*.yaml against the expected
output derived by hand from ../shared/docs/rules-13710.md (tests/scenarios/*.expected.jsonl).

Each scenario runs the real command in a subprocess (it opens its own in-memory database, as
outside checks do); all of them run once, concurrently, and the results are shared by the
tests below.

Comparison, line by line in time order: the output must be ordered by `at`; for every
moment the expected lines and the actual lines must pair up one to one. An expected line
gives the fields it checks (`at`, `type`, `matter`, `kind`, `channel`, `to`, `person`,
`unit`, `text`, `before`/`after`, `delta`, `reason`); a field it leaves out (the text of a
message whose wording is not what R36 asks for) is not compared. Lines sharing one `at` are
matched in any order: the order of recipients within one moment is no rule.

Known deviations of the code from the rules are listed in tests/scenarios/known_deviations.yaml
and marked xfail (strict), with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
SCENARIO_DIR = HERE / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("r[0-9][0-9]_*.yaml"))
DEVIATIONS = yaml.safe_load((SCENARIO_DIR / "known_deviations.yaml").read_text(encoding="utf-8"))
KNOWN: dict[str, list[str]] = DEVIATIONS.get("scenarios") or {}
KNOWN_R36: list[dict[str, str]] = DEVIATIONS.get("r36_texts") or []
TIMEOUT = 300


def duban() -> str:
    beside = Path(sys.executable).with_name("duban")
    found = str(beside) if beside.exists() else shutil.which("duban")
    assert found, "the `duban` console script is not installed (pip install -e .)"
    return found


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def simulate(path: Path) -> Run:
    done = subprocess.run([duban(), "simulate", str(path)], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=HERE.parent)
    return Run(done.returncode, done.stdout, done.stderr)


@cache
def simulated() -> dict[str, Run]:
    """Every scenario, run once, concurrently."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip((p.stem for p in SCENARIOS), pool.map(simulate, SCENARIOS),
                        strict=True))


def expected_lines(path: Path) -> list[dict[str, Any]]:
    text = path.with_name(f"{path.stem}.expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def params(prefix: str = "") -> list[Any]:
    result = []
    for path in SCENARIOS:
        reasons = KNOWN.get(path.stem)
        marks = [pytest.mark.xfail(reason=" | ".join(reasons), strict=True)] if reasons else []
        result.append(pytest.param(path, id=f"{prefix}{path.stem}", marks=marks))
    return result


def show(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False)


def compare(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """Differences, moment by moment; an expected line checks only the fields it names."""
    by_at_actual: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_at_expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in actual:
        by_at_actual[line["at"]].append(line)
    for line in expected:
        by_at_expected[line["at"]].append(line)
    problems = []
    for at in sorted(set(by_at_actual) | set(by_at_expected)):
        left = list(by_at_actual[at])
        for want in by_at_expected[at]:
            match = next((i for i, got in enumerate(left)
                          if all(got.get(k, "<absent>") == v for k, v in want.items())), None)
            if match is None:
                problems.append(f"missing    {show(want)}")
            else:
                left.pop(match)
        problems += [f"unexpected {show(got)}" for got in left]
    return problems


@pytest.mark.parametrize("path", params())
def test_rule_scenario(path: Path) -> None:
    run = simulated()[path.stem]
    assert run.returncode == 0, f"duban simulate {path.name} failed:\n{run.stderr[-3000:]}"
    actual = run.lines
    moments = [line["at"] for line in actual]
    assert moments == sorted(moments), "the output is not ordered by `at`"
    problems = compare(actual, expected_lines(path))
    assert not problems, (f"{path.name}: {len(problems)} differences "
                          f"({len(actual)} lines out, {len(expected_lines(path))} expected):\n"
                          + "\n".join(problems[:60]))


def r36_violation(line: dict[str, Any]) -> bool:
    """R36: the text names the matter code (when the message is about one) and says how
    to reply (every such instruction in the templates reads 回复 …)."""
    text = line["text"] or ""
    return (line["matter"] is not None and line["matter"] not in text) or "回复" not in text


def known_r36(line: dict[str, Any]) -> str | None:
    for entry in KNOWN_R36:
        if line["kind"] == entry["kind"] and entry["contains"] in (line["text"] or ""):
            return entry["reason"]
    return None


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in SCENARIOS])
def test_r36_every_message_names_its_matter_and_how_to_reply(path: Path) -> None:
    run = simulated()[path.stem]
    if run.returncode != 0:
        if path.stem in KNOWN:
            pytest.xfail("the scenario does not run: " + " | ".join(KNOWN[path.stem]))
        pytest.fail(f"duban simulate {path.name} failed:\n{run.stderr[-3000:]}")
    bad = [line for line in run.lines if line["type"] == "message" and r36_violation(line)]
    unknown = [line for line in bad if known_r36(line) is None]
    assert not unknown, "messages without the matter code or reply instructions:\n" + "\n".join(
        show(line) for line in unknown[:20])
    if bad:
        pytest.xfail(" | ".join(sorted({known_r36(line) or "" for line in bad})))


VALID: dict[str, Any] = {
    "units": [
        {"id": "water", "name": "区水务局", "head": {"name": "王局长", "phone": "13800000001"},
         "operators": [{"name": "李一", "phone": "13800000002"}]},
        {"id": "ducha", "name": "区政府督查室", "head": {"name": "陈主任", "phone": "13900000001"},
         "operators": [{"name": "周干事", "phone": "13900000002"}]},
    ],
    "matters": [{"code": "D1", "board": "daily", "class": "general", "title": "清理辖区河道垃圾",
                 "initiator": "ducha", "lead": "water",
                 "created_at": "2026-10-12T09:00:00+08:00"}],
    "events": [{"at": "2026-10-12T10:00:00+08:00", "channel": "sms", "from": "13800000002",
                "text": "D1 收到"}],
    "until": "2026-10-12T12:00:00+08:00",
}


def broken(where: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    scenario = json.loads(json.dumps(VALID))
    target = scenario
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    return scenario


INVALID = {
    "unknown_lead_unit": (broken(("matters", 0, "lead"), "nosuch"), "matters.0.lead"),
    "unknown_initiator_unit": (broken(("matters", 0, "initiator"), "nosuch"),
                               "matters.0.initiator"),
    "bad_created_at": (broken(("matters", 0, "created_at"), "2026-13-45T25:00"),
                       "matters.0.created_at"),
    "bad_event_time": (broken(("events", 0, "at"), "tomorrow morning"), "events.0.at"),
    "bad_until": (broken(("until",), "2026-02-30T00:00:00"), "until"),
    "unknown_board": (broken(("matters", 0, "board"), "sports"), "matters.0.board"),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_scenario_exits_nonzero_naming_the_field(case: str, tmp_path: Path) -> None:
    scenario, field = INVALID[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    run = simulate(path)
    assert run.returncode != 0
    assert run.stdout == ""
    assert field in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
