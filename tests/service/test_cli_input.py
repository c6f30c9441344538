"""`duban` as a real process on bad input: one clear line, a non-zero exit, no traceback
(issue 8 items 20, 21, 22, 24). On the test database of the run (a fresh SQLite file when
that is in memory)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from service.cli import build_parser
from service.register import matter_code
from tests.conftest import TEST_DATABASE
from tests.loopback import closed_port
from tests.service.processes import ROOT, duban

MATTER = (ROOT / "examples/matter.yaml").read_text(encoding="utf-8")


@pytest.fixture
def cli_db(db, tmp_path: Path) -> str:
    """The database the processes use: the run's PostgreSQL (emptied by `db`), or SQLite."""
    return TEST_DATABASE if TEST_DATABASE.startswith("postgres") else (
        f"sqlite://{tmp_path / 'd.sqlite3'}")


def one_line(result) -> str:
    """The process's only stderr line; no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def matter_file(tmp_path: Path, **changes: str) -> str:
    text = MATTER
    for field, value in changes.items():
        text = "\n".join(f"{field}: {value}" if line.startswith(f"{field}:") else line
                         for line in text.splitlines())
    path = tmp_path / f"matter-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_codes_are_normalised_and_checked_against_the_reply_grammar(tmp_path, cli_db):
    """Issue 8 item 20: `d1` is registered as D1, a second `D1` is refused with a sentence,
    `ABCD1` (no reply can name it) is refused, and `plan d1` finds D1."""
    assert duban(tmp_path, "import-org", "examples/org.csv", database=cli_db).returncode == 0
    done = duban(tmp_path, "register", matter_file(tmp_path, code="d1"), database=cli_db)
    assert done.returncode == 0 and "registered D1" in done.stdout
    again = duban(tmp_path, "register", matter_file(tmp_path, code="D1"), database=cli_db)
    assert again.returncode == 1
    assert one_line(again) == ("duban register: not registered: the code D1 is already "
                               "taken by another matter")
    refused = duban(tmp_path, "register", matter_file(tmp_path, code="ABCD1"),
                    database=cli_db)
    assert refused.returncode == 1 and "not a code a reply can name" in one_line(refused)
    plan = duban(tmp_path, "plan", "d1", database=cli_db)
    assert plan.returncode == 0 and plan.stdout.startswith("D1 ")


def test_matter_code_rules():
    """Issue 8 item 20: the grammar is the parser's (letters 1-3, digits 1-6)."""
    assert matter_code(" d17 ") == "D17" and matter_code("ＤＢ２") == "DB2"
    for bad in ("ABCD1", "D", "17", "D1234567", "D-1", ""):
        with pytest.raises(ValueError):
            matter_code(bad)


@pytest.mark.parametrize("changes, named", [
    ({"title": "长" * 300}, "title"),
    ({"approver": "张" * 100}, "approver"),
    ({"code": "D" + "1" * 40}, "code"),
    ({"title": '"清理\\0河道"'}, "title"),
])
def test_over_long_register_fields_are_one_line(tmp_path, cli_db, changes, named):
    """Issue 8 item 21: over-long title, approver or code (or a NUL in the title): one
    line naming the field."""
    duban(tmp_path, "import-org", "examples/org.csv", database=cli_db)
    result = duban(tmp_path, "register", matter_file(tmp_path, **changes), database=cli_db)
    assert result.returncode == 1 and named in one_line(result)


def test_import_org_refuses_bad_rows_and_imports_the_rest(tmp_path, cli_db):
    """Issue 8 item 21: an over-long name or a NUL rejects that row (by its line number);
    the other rows are imported."""
    rows = (ROOT / "examples/org.csv").read_text(encoding="utf-8").splitlines()
    rows[3] = rows[3].replace("吴干事", "吴" * 80)
    rows[6] = rows[6].replace("李一", "李\x00一")
    csv = tmp_path / "org.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = duban(tmp_path, "import-org", str(csv), database=cli_db)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "人员：新增 5" in result.stdout
    assert "第 4 行：姓名超过 64 个字" in result.stdout
    assert "第 7 行：姓名含有控制字符" in result.stdout


@pytest.mark.parametrize("args", [
    ("scores", "--year", "99999"), ("scores", "--year", "0"), ("plan", "D1", "--days", "-5"),
    ("serve", "--port", "70000"),
])
def test_out_of_range_arguments_are_one_line(tmp_path, cli_db, args):
    """Issue 8 item 21: out-of-range years and negative days are refused in one line."""
    result = duban(tmp_path, *args, database=cli_db)
    assert result.returncode == 2 and "is outside" in one_line(result)


def test_an_unreachable_postgresql_is_one_line(tmp_path, db):
    """Issue 8 item 21: a PostgreSQL that does not answer: one line, without the password."""
    url = f"postgres://duban:pw-s3cret@127.0.0.1:{closed_port()}/duban"
    for args in (("migrate",), ("scores",), ("plan", "D1")):
        result = duban(tmp_path, *args, database=url)
        line = one_line(result)
        assert result.returncode == 2 and "cannot reach PostgreSQL" in line
        assert "pw-s3cret" not in line


def test_a_sqlite_file_in_a_missing_folder_is_one_line(tmp_path, db):
    """Issue 8 item 22: `migrate` and `plan` exit at once instead of waiting on a lock."""
    missing = tmp_path / "no" / "such" / "d.sqlite3"
    for args in (("migrate",), ("plan", "D1")):
        result = duban(tmp_path, *args, database=missing, timeout=30)
        assert result.returncode == 2 and "does not exist" in one_line(result)


def test_serve_on_a_busy_port_is_one_line(tmp_path, cli_db):
    """Issue 8 item 22: a second `serve` on a busy port says so and exits non-zero."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = duban(tmp_path, "serve", "--port", str(port), database=cli_db, timeout=60)
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in one_line(result)


def test_serve_on_a_busy_console_port_is_one_line(tmp_path, cli_db):
    """The console's port is bound with the service's, before anything starts: a busy one
    ends `serve` with one line instead of a traceback and a process that never exits."""
    with socket.socket() as taken, socket.socket() as free:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free.bind(("127.0.0.1", 0))
        port, console = free.getsockname()[1], taken.getsockname()[1]
        free.close()
        result = duban(tmp_path, "serve", "--port", str(port), database=cli_db, timeout=60,
                       DUBAN_CONSOLE__PORT=str(console))
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{console}" in one_line(result)


def test_plain_commands_print_no_log_lines(tmp_path, cli_db):
    """Issue 8 item 24: no INFO line on stderr from a plain CLI command."""
    for args in (("migrate",), ("import-org", "examples/org.csv"), ("scores",)):
        result = duban(tmp_path, *args, database=cli_db)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)


def test_every_subcommand_and_argument_is_described():
    """Issue 8 item 24: each subcommand's --help says what it does and what each of its
    arguments is."""
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) >= {"serve", "migrate", "import-org", "register", "plan", "scores",
                             "link-code", "simulate"}
    for name, parser in commands.items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help, (name, action.dest)


def test_console_password_from_the_shell_lets_the_first_administrator_in(tmp_path, cli_db):
    """Known defect of issue 11 (closing note): with no SMS provider, nobody could sign in to
    the console the first time. `duban console-password` reads the password from stdin (never
    argv), refuses bad input in one line, and is audited."""
    assert duban(tmp_path, "import-org", "examples/org.csv", database=cli_db).returncode == 0
    done = duban(tmp_path, "console-password", "13900000001", database=cli_db,
                 stdin="a-long-passphrase\n")
    assert done.returncode == 0 and "陈主任" in done.stdout, done.stderr
    assert "a-long-passphrase" not in done.stdout + done.stderr
    weak = duban(tmp_path, "console-password", "13900000001", database=cli_db, stdin="short\n")
    assert weak.returncode == 1 and "at least 10 characters" in one_line(weak)
    nobody = duban(tmp_path, "console-password", "13999999999", database=cli_db,
                   stdin="a-long-passphrase\n")
    assert nobody.returncode == 1 and "no active person" in one_line(nobody)


async def test_console_password_set_from_the_shell_signs_in(db, clock):
    from console.auth import set_password_from_shell, sign_in_with_password
    from models import AuditEntry, Person, Role, Unit

    unit = await Unit.create(key="ducha", name="区政府督查室")
    await Person.create(unit=unit, name="陈主任", role=Role.HEAD, phone="+8613900000001")
    await set_password_from_shell("139 0000 0001", "a-long-passphrase", clock.now())
    person = await sign_in_with_password("13900000001", "a-long-passphrase", clock.now())
    assert person.name == "陈主任"
    row = await AuditEntry.get(action="console_password")
    assert (row.channel, row.detail) == ("cli", {"person": person.id})
