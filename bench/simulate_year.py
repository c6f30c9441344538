"""P5: `duban simulate` of a year with 1,000 matters (goal < 30 s), timed as a user runs it.

    .venv/bin/python bench/simulate_year.py [--matters 1000] [--days 365] [--quick]

Ten units; every matter is replied to once (acknowledged) and otherwise left to the clock,
so the year is full of reminders, urges and escalations. `--quick` runs 20 matters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import arguments  # noqa: E402

START = datetime.fromisoformat("2026-01-05T09:00:00+08:00")


def scenario(matters: int, days: int) -> dict:
    units = [{"id": f"u{u}", "name": f"单位{u}",
              "head": {"name": f"负责人{u}", "phone": f"1380000{u:04d}"},
              "operators": [{"name": f"经办{u}", "phone": f"1381000{u:04d}"}]}
             for u in range(10)]
    units.append({"id": "ducha", "name": "区政府督查室",
                  "head": {"name": "陈主任", "phone": "13900000001"},
                  "operators": [{"name": "周干事", "phone": "13900000002"}]})
    items, events = [], []
    for m in range(matters):
        created = START + timedelta(minutes=m)
        items.append({"code": f"D{m + 1}", "board": "daily",
                      "class": "major" if m % 3 == 0 else "general", "title": f"督办事项{m}",
                      "initiator": "ducha", "lead": f"u{m % 10}",
                      "created_at": created.isoformat()})
        events.append({"at": (created + timedelta(hours=2)).isoformat(), "channel": "sms",
                       "from": f"1381000{m % 10:04d}", "text": f"D{m + 1} 收到"})
    return {"units": units, "matters": items, "events": events,
            "until": (START + timedelta(days=days)).isoformat()}


def main() -> None:
    parser = arguments(__doc__, "20 matters")
    parser.add_argument("--matters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    matters = 20 if args.quick else args.matters
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(scenario(matters, args.days), file, ensure_ascii=False)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "service.cli", "simulate", file.name],
                          cwd=REPO, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    lines = done.stdout.count("\n")
    print(f"duban simulate: {matters} matters, {args.days} days: {elapsed:.1f} s, "
          f"{lines:,} output lines (P5 goal: 1,000 matters, a year, < 30 s)")


if __name__ == "__main__":
    main()
