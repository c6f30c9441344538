"""`duban` as a real process, for behaviour that belongs to the process: exit codes, what
reaches stderr, hangs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def duban(tmp_path: Path, *args: str, database: Path | str | None = None, timeout: float = 60,
          stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run `duban ARGS` with a fresh SQLite file (or `database`: a path or a URL), `stdin` as
    its standard input."""
    url = database if isinstance(database, str) else (
        f"sqlite://{database or tmp_path / 'd.sqlite3'}")
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, input=stdin,
                          env={"PATH": "/usr/bin:/bin", "DUBAN_DATABASE_URL": url, **env})
