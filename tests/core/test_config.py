"""Settings (`service.config`): defaults, a TOML file, the environment, and clear errors.

An invalid setting stops start-up with one line that names it (`ConfigError`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from scheduler.policy import Board, Cadence, QuietHours, default_policies
from service.config import ConfigError, Settings, load_settings

DUBAN = Path(sys.executable).with_name("duban")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No DUBAN_* variable of the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("DUBAN_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "duban.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    settings = load_settings()
    assert settings.database_url == "sqlite://duban.sqlite3"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.quiet_hours is None  # R35: off by default
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.sms_provider == "none" and settings.sms.signature == "【督办】"  # issue 8 item 1
    assert settings.telegram.token is None and settings.telegram.mode == "polling"
    assert settings.boards == {}
    policy = settings.policy()
    assert policy.quiet_hours is None
    assert policy.boards == default_policies()


def test_toml_file_sets_values_and_board_overrides(tmp_path):
    path = write(tmp_path, """
database_url = "postgres://duban@db:5432/duban"
timezone = "Asia/Urumqi"
quiet_hours = "22:00-07:00"
port = 9000

[sms]
provider = "smpp"
signature = "【区督办】"

[boards.engineering]
working_days = true
cadence = "monthly"

[boards.daily]
ack_resend_hours = 0
""")
    settings = load_settings(path)
    assert settings.database_url == "postgres://duban@db:5432/duban"
    assert settings.timezone == "Asia/Urumqi" and settings.port == 9000
    assert (settings.sms.provider, settings.sms.signature) == ("smpp", "【区督办】")
    policy = settings.policy()
    assert policy.quiet_hours == QuietHours(time(22), time(7))
    engineering = policy.board("engineering")
    assert engineering.working_days is True and engineering.cadence is Cadence.MONTHLY
    assert engineering.overdue == default_policies()[Board.ENGINEERING].overdue  # untouched
    assert policy.board("daily").ack_resend_after is None  # 0 switches R37 off
    assert policy.board("key_work") == default_policies()[Board.KEY_WORK]


def test_config_file_from_duban_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DUBAN_CONFIG", str(write(tmp_path, 'quiet_hours = "23:00-06:30"\n')))
    assert load_settings().quiet_hours == "23:00-06:30"


def test_environment_alone_sets_values(monkeypatch):
    monkeypatch.setenv("DUBAN_QUIET_HOURS", "22:30-06:00")
    monkeypatch.setenv("DUBAN_SMS__PROVIDER", "aliyun")
    monkeypatch.setenv("DUBAN_PORT", "8443")
    settings = load_settings()
    assert settings.quiet_hours == "22:30-06:00"
    assert settings.sms.provider == "aliyun" and settings.port == 8443
    assert settings.policy().quiet_hours == QuietHours(time(22, 30), time(6))


def test_environment_overrides_the_toml_file(tmp_path, monkeypatch):
    path = write(tmp_path, """
quiet_hours = "22:00-07:00"
[sms]
provider = "smpp"
signature = "【区督办】"
""")
    monkeypatch.setenv("DUBAN_QUIET_HOURS", "23:00-06:00")
    monkeypatch.setenv("DUBAN_SMS__PROVIDER", "aliyun")
    settings = load_settings(path)
    assert settings.quiet_hours == "23:00-06:00"
    assert settings.sms.provider == "aliyun"
    assert settings.sms.signature == "【区督办】"  # the rest of the file's section stays


@pytest.mark.parametrize(("toml", "setting"), [
    ('quiet_hours = "22:00"', "quiet_hours"),
    ('quiet_hours = "10pm-7am"', "quiet_hours"),
    ('quiet_hours = "25:00-07:00"', "quiet_hours"),
    ('timezone = "Mars/Olympus_Mons"', "timezone"),
    ('timezone = "China Standard Time"', "timezone"),
    ('database_url = "mysql://duban@db/duban"', "database_url"),
    ('database_url = "duban.sqlite3"', "database_url"),
    ("port = 0", "port"),
    ("port = 70000", "port"),
    ("poll_seconds = 0", "poll_seconds"),
    ('colour = "red"', "colour"),
    ("[boards.daily]\nworking_day = true", "boards.daily.working_day"),
    ('[boards.daily]\ncadence = "hourly"', "boards.daily.cadence"),
    ("[boards.investment]\nmonth_end_remind_days = 0", "boards.investment.month_end_remind_days"),
    ("[boards.roads]\nworking_days = true", "boards.roads"),
    ('[sms]\nprovider = "carrier-pigeon"', "sms.provider"),
    ('[telegram]\nmode = "push"', "telegram.mode"),
])
def test_an_invalid_setting_is_a_config_error_naming_it(tmp_path, toml, setting):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, toml + "\n"))
    message = str(caught.value)
    assert message.startswith(f"invalid setting {setting}"), message
    assert "\n" not in message


@pytest.mark.parametrize(("variable", "value", "setting"), [
    ("DUBAN_QUIET_HOURS", "late", "quiet_hours"),
    ("DUBAN_TIMEZONE", "Asia/Beijing", "timezone"),
    ("DUBAN_DATABASE_URL", "oracle://x", "database_url"),
    ("DUBAN_PORT", "0", "port"),
    ("DUBAN_SMS__PROVIDER", "fax", "sms.provider"),
])
def test_an_invalid_environment_variable_is_a_config_error_naming_it(monkeypatch, variable,
                                                                     value, setting):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"^invalid setting {setting}"):
        load_settings()


def test_an_unreadable_or_malformed_file_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match="missing.toml"):
        load_settings(missing)
    broken = write(tmp_path, "port = \n", "broken.toml")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_settings(broken)


def test_quiet_hours_parse_and_span_midnight():
    quiet = QuietHours.parse(" 22:00 - 07:00 ")
    assert quiet == QuietHours(time(22), time(7))
    assert quiet.contains(time(23, 30)) and quiet.contains(time(0)) and quiet.contains(time(6, 59))
    assert not quiet.contains(time(7)) and not quiet.contains(time(21, 59))
    afternoon = QuietHours.parse("12:00-14:00")
    assert afternoon.contains(time(13)) and not afternoon.contains(time(14))


def test_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, "port = 9000\n")
    assert load_settings(path, port=9100).port == 9100
    assert Settings(port=9200).port == 9200


def duban(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    return subprocess.run([str(DUBAN), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("toml", "setting"), [
    ("port = 0", "port"),
    ('quiet_hours = "22:00 to 07:00"', "quiet_hours"),
    ("[boards.daily]\nworking_day = true", "boards.daily.working_day"),
])
def test_the_console_script_exits_non_zero_with_one_line_naming_the_setting(tmp_path, toml,
                                                                           setting):
    write(tmp_path, toml + "\n", "bad.toml")
    result = duban(tmp_path, "--config", "bad.toml", "migrate")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert setting in lines[0] and lines[0].startswith("duban: ")
    assert result.stdout == ""
    assert not (tmp_path / "duban.sqlite3").exists()  # nothing was started


def test_the_console_script_migrates_with_a_valid_file(tmp_path):
    write(tmp_path, 'database_url = "sqlite://ok.sqlite3"\n', "good.toml")
    result = duban(tmp_path, "--config", "good.toml", "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "ok.sqlite3").exists()
