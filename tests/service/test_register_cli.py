"""`duban register`: a matter from a file, refused with a clear line when the rules say no
(R1, R2), the assignment notice queued (R3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def duban(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DUBAN_DATABASE_URL": f"sqlite://{tmp_path / 'd.sqlite3'}"}
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)


def test_r1_r2_r3_register_from_the_example_files(tmp_path: Path):
    assert duban(tmp_path, "import-org", "examples/org.csv").returncode == 0
    done = duban(tmp_path, "register", "examples/matter.yaml")
    assert done.returncode == 0 and "registered D1" in done.stdout
    again = duban(tmp_path, "register", "examples/matter.yaml")
    assert again.returncode == 1 and "the code D1 is already taken" in again.stderr

    classified = tmp_path / "secret.yaml"
    text = (ROOT / "examples/matter.yaml").read_text(encoding="utf-8")
    classified.write_text(text.replace("code: D1", "code: D2").replace(
        "not_classified: true", "not_classified: false"), encoding="utf-8")
    refused = duban(tmp_path, "register", str(classified))
    assert refused.returncode == 1 and "not classified" in refused.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("approved_on: 2026-11-20", "approved_on: soon"),
                      encoding="utf-8")
    invalid = duban(tmp_path, "register", str(broken))
    assert invalid.returncode == 1 and "approved_on" in invalid.stderr

    plan = duban(tmp_path, "plan", "D1", "--days", "2")
    assert plan.returncode == 0 and "李一" in plan.stdout
