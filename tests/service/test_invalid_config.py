"""An invalid setting stops `duban serve` at once with one line naming it, and touches no
database (the guide: an invalid config gets a clear answer and changes nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BAD_ALIYUN = """
[sms]
provider = "aliyun"
[sms.aliyun]
access_key_id = "x"
access_key_secret = "y"
sign_name = "z"
template_code = "SMS_1"
callback_token = "short"
"""


def test_bad_channel_setting_stops_serve_with_one_line(tmp_path: Path):
    config = tmp_path / "duban.toml"
    database = tmp_path / "never.sqlite3"
    config.write_text(BAD_ALIYUN, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "--config", str(config), "serve", "--port", "1"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "DUBAN_DATABASE_URL": f"sqlite://{database}"},
        cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and "sms.aliyun.callback_token" in lines[0]
    assert not database.exists()
