"""Run tests/replies/corpus.yaml: realistic replies and the exact parse each must give.

Each case belongs to a class (``class:``, "core" when not given); the per-class counts are
printed at the end of the run (tests/replies/conftest.py) and the classes of issue 9 must
keep their size."""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from replies.parser import (
    ERROR_CODES,
    QUESTION_CODES,
    Intent,
    IntentKind,
    Parsed,
    ParseError,
    Question,
    parse_reply,
)

CORPUS_PATH = Path(__file__).with_name("corpus.yaml")


@dataclass(frozen=True)
class Case:
    id: str
    cls: str  # the corpus class, for the summary
    text: str
    now: datetime
    expected: Parsed
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
        expected: Parsed = ParseError(entry["error"], str(entry.get("detail", "")))
    elif "question" in entry:
        expected = Question(entry["question"], _intent(entry), str(entry["detail"]))
    else:
        expected = _intent(entry)
    cls = entry.get("class", "core")
    return Case(entry["id"], cls, entry["text"], now, expected, "detail" in entry)


def _intent(entry: dict) -> Intent:
    return Intent(
        kind=IntentKind(entry["kind"]),
        matter_code=entry.get("code"),
        short_number=entry.get("num"),
        text=entry.get("body", ""),
        new_deadline=_date(entry.get("deadline")),
        grade=entry.get("grade"),
        agreed=entry.get("agreed"),
        report=entry.get("report", ""),
        reading=entry.get("reading", ""),
    )


def _date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


CORPUS = load_corpus()
# The classes of issue 9 part 1 and the fewest cases each must keep (200+ together).
ISSUE_9_CLASSES = {
    "negation": 40,
    "receipt_report": 20,
    "dates": 40,
    "forms": 50,
    "slips": 20,
}


def outcome(expected: Parsed) -> str:
    if isinstance(expected, Intent):
        return "intent"
    return "question" if isinstance(expected, Question) else "error"


def class_summary() -> list[tuple[str, Counter]]:
    """Per class: how many cases, and how many expect an intent, a question, an error."""
    counts: dict[str, Counter] = {}
    for case in CORPUS:
        counts.setdefault(case.cls, Counter()).update(["total", outcome(case.expected)])
    return sorted(counts.items())


def test_issue_9_classes_are_large_enough():
    sizes = {cls: counts["total"] for cls, counts in class_summary()}
    for cls, least in ISSUE_9_CLASSES.items():
        assert sizes.get(cls, 0) >= least, cls
    assert sum(sizes.get(cls, 0) for cls in ISSUE_9_CLASSES) >= 200


def test_corpus_is_large_and_ids_are_unique():
    ids = [case.id for case in CORPUS]
    assert len(ids) >= 300
    assert len(ids) == len(set(ids))


def test_corpus_error_codes_are_documented():
    used = {case.expected.code for case in CORPUS if isinstance(case.expected, ParseError)}
    assert used <= ERROR_CODES.keys()
    assert used == ERROR_CODES.keys(), "every error code should have corpus examples"
    asked = {case.expected.code for case in CORPUS if isinstance(case.expected, Question)}
    assert asked == QUESTION_CODES.keys()


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_corpus(case: Case):
    got = parse_reply(case.text, now=case.now)
    if isinstance(case.expected, ParseError) and not case.check_detail:
        assert isinstance(got, ParseError) and got.code == case.expected.code, got
    else:
        assert got == case.expected
