"""Run tests/replies/corpus.yaml: realistic replies and the exact parse each must give."""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from replies.parser import ERROR_CODES, Intent, IntentKind, ParseError, parse_reply

CORPUS_PATH = Path(__file__).with_name("corpus.yaml")


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    now: datetime
    expected: Intent | ParseError
    check_detail: bool  # errors: compare the detail only when the entry gives one


def load_corpus() -> list[Case]:
    raw = yaml.safe_load(CORPUS_PATH.read_text(encoding="utf-8"))
    default_now = raw["defaults"]["now"]
    return [_case(entry, default_now) for entry in raw["cases"]]


def _case(entry: dict, default_now: str) -> Case:
    # Quoting mistakes in YAML turn "1" into an int or "no" into False: refuse them.
    assert isinstance(entry["text"], str), entry["id"]
    now = datetime.fromisoformat(entry.get("now", default_now))
    if "error" in entry:
        expected: Intent | ParseError = ParseError(entry["error"], str(entry.get("detail", "")))
    else:
        expected = Intent(
            kind=IntentKind(entry["kind"]),
            matter_code=entry.get("code"),
            short_number=entry.get("num"),
            text=entry.get("body", ""),
            new_deadline=_date(entry.get("deadline")),
            grade=entry.get("grade"),
            agreed=entry.get("agreed"),
        )
    return Case(entry["id"], entry["text"], now, expected, "detail" in entry)


def _date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


CORPUS = load_corpus()


def test_corpus_is_large_and_ids_are_unique():
    ids = [case.id for case in CORPUS]
    assert len(ids) >= 300
    assert len(ids) == len(set(ids))


def test_corpus_error_codes_are_documented():
    used = {case.expected.code for case in CORPUS if isinstance(case.expected, ParseError)}
    assert used <= ERROR_CODES.keys()
    assert used == ERROR_CODES.keys(), "every error code should have corpus examples"


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_corpus(case: Case):
    got = parse_reply(case.text, now=case.now)
    if isinstance(case.expected, ParseError) and not case.check_detail:
        assert isinstance(got, ParseError) and got.code == case.expected.code, got
    else:
        assert got == case.expected
