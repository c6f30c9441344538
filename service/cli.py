"""The `duban` console script: serve, migrate, import-org, plan, simulate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import NoReturn

from service.config import ConfigError, Settings, load_settings
from service.db import DatabaseUnavailable


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A plain command prints its result and nothing else; serve logs what it does.
    level = logging.INFO if args.run is run_serve else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for chatty in ("apscheduler", "tortoise"):  # not a line per tick, start or stop
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        return args.run(args)
    except (ConfigError, DatabaseUnavailable) as exc:
        print(f"duban: {exc}", file=sys.stderr)
        return 2


class Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other refusal of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="duban", description="The 13710 supervision service.")
    parser.add_argument("--config", help="a TOML settings file (or DUBAN_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def command(name: str, summary: str, run: Callable[[argparse.Namespace], int],
                *positional: tuple[str, str]) -> argparse.ArgumentParser:
        """A subcommand and its positional arguments, (name, help) each."""
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(run=run)
        for argument, described in positional:
            sub.add_argument(argument, help=described)
        return sub

    serve = command("serve", "Run the HTTP server, the clock and the channels until SIGINT or "
                    "SIGTERM (migrates the database first).", run_serve)
    serve.add_argument("--host", help="address to listen on (default: the host setting, "
                       "127.0.0.1)")
    serve.add_argument("--port", type=bounded(1, 65535), help="port to listen on (default: "
                       "the port setting, 8080)")
    serve.add_argument("--allow-dev-on-public-host", action="store_true",
                       help="allow development mode (DUBAN_DEVELOPMENT=1) on a non-loopback "
                       "host, where /dev/sms lets anyone read and send as any phone")

    command("migrate", "Bring the database schema up to date.", run_migrate)

    command("import-org", "Import units and people; bad rows are reported by line number and "
            "the rest is imported.", run_import_org,
            ("file", "a CSV (UTF-8 or GBK) or XLSX file, as examples/org.csv"))
    command("register", "Register a matter as its initiator (R1, R2); the assignment notice "
            "is queued (R3).", run_register,
            ("file", "a YAML or JSON file, as examples/matter.yaml"))
    plan = command("plan", "Show a matter's upcoming automatic actions: when, what, to whom.",
                   run_plan, ("code", "the matter's code, e.g. D1"))
    plan.add_argument("--days", type=bounded(1, 3660), default=35,
                      help="how many days ahead (default 35)")

    scores = command("scores", "Show unit points by quarter and the year's ranking.",
                     run_scores)
    scores.add_argument("--year", type=bounded(2000, 9998),
                        help="the year (default: this year in the configured time zone)")

    command("link-code", "Text a person a one-time code that links their messenger account.",
            run_link_code, ("phone", "the person's registered phone number"))
    command("simulate", "Rehearse a scenario on a virtual clock and print what would be sent "
            "(docs: simulate-contract.md).", run_simulate,
            ("scenario", "a YAML or JSON scenario file"))
    command("console-password", "Set a person's console password, read from standard input "
            "(the first administrator's way in before any SMS provider is set up); audited.",
            run_console_password, ("phone", "the person's registered phone number"))
    add_holiday_commands(commands)
    add_replan_command(commands)
    return parser


def add_holiday_commands(commands: argparse._SubParsersAction) -> None:
    summary = "The working-day calendar (R6): import a holiday notice, list each year's source."
    holidays = commands.add_parser("holidays", help=summary, description=summary)
    actions = holidays.add_subparsers(dest="holidays_command", required=True, help="what to do",
                                      parser_class=Parser)
    summary = ("Load a State Council holiday notice (CSV, XLSX or YAML); it replaces each year "
               "it covers, and open working-day matters move to the new dates.")
    load = actions.add_parser("import", help=summary, description=summary)
    load.add_argument("file", help="the notice's dates: columns 日期, 类型 (放假/上班), 名称")
    load.set_defaults(run=run_holidays_import)
    summary = "Show each year's working-day source (imported / package / missing) and its days."
    show = actions.add_parser("list", help=summary, description=summary)
    show.add_argument("--year", type=bounded(2000, 9998), help="only this year")
    show.set_defaults(run=run_holidays_list)


def add_replan_command(commands: argparse._SubParsersAction) -> None:
    summary = ("Put open matters on the board's current policy, audited, repeating no action "
               "already done (without options: every open matter).")
    replan = commands.add_parser("replan", help=summary, description=summary)
    replan.add_argument("--board", help="only this board's open matters, e.g. daily")
    replan.add_argument("--matter", help="only this matter, by its code")
    replan.set_defaults(run=run_replan)


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def run_serve(args: argparse.Namespace) -> int:
    from service.app import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port),
                                   ("allow_dev_on_public_host", args.allow_dev_on_public_host))
                 if v}
    settings = load_settings(args.config, **overrides)
    asyncio.run(serve(settings))
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from service.db import close_database, migrate

    settings = settings_of(args)

    async def go() -> None:
        await migrate(settings.database_url)
        await close_database()

    asyncio.run(go())
    print("duban: database is up to date")
    return 0


def run_import_org(args: argparse.Namespace) -> int:
    from service.org_import import import_file

    settings = settings_of(args)
    report = asyncio.run(with_database(settings, import_file(args.file)))
    print(report.text())
    return 0 if not report.rejected else 1


def run_register(args: argparse.Namespace) -> int:
    from service.register import refusal_sentence, register_file
    from workflow.errors import Refused

    settings = settings_of(args)
    try:
        matter = asyncio.run(with_database(settings, register_file(settings, args.file)))
    except ValueError as exc:
        print(f"duban register: {exc}", file=sys.stderr)
        return 1
    except Refused as exc:
        print(f"duban register: not registered: {refusal_sentence(exc)}", file=sys.stderr)
        return 1
    print(f"registered {matter.code}; the assignment notice is queued (R3)")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from service.plan import UnknownMatter, plan_table

    settings = settings_of(args)
    try:
        table = asyncio.run(with_database(settings, plan_table(settings, args.code,
                                                               timedelta(days=args.days))))
    except UnknownMatter as exc:
        print(f"duban plan: {exc}", file=sys.stderr)
        return 1
    print(table)
    return 0


def run_scores(args: argparse.Namespace) -> int:
    from datetime import datetime

    from workflow.scores import ranking_table, year_ranking

    settings = settings_of(args)
    tz = settings.context().tz
    year = args.year if args.year is not None else datetime.now(tz).year
    rows = asyncio.run(with_database(settings, year_ranking(year, tz)))
    print(ranking_table(year, rows))
    return 0


def run_link_code(args: argparse.Namespace) -> int:
    from service.link_code import UnknownPerson, send_link_code

    settings = settings_of(args)
    try:
        code = asyncio.run(with_database(settings, send_link_code(settings.context(), args.phone)))
    except (UnknownPerson, ValueError) as exc:
        print(f"duban link-code: {exc}", file=sys.stderr)
        return 1
    print(f"link code {code} queued by SMS to {args.phone}; valid for 24 hours")
    return 0


def run_console_password(args: argparse.Namespace) -> int:
    from console.auth import LoginRefused, set_password_from_shell
    from scheduler.clock import SystemClock

    password = read_password()
    clock = SystemClock()
    try:
        person = asyncio.run(with_database(settings_of(args), set_password_from_shell(
            args.phone, password, clock.now())))
    except LoginRefused as exc:
        print(f"duban console-password: {PASSWORD_REFUSALS[exc.code]}", file=sys.stderr)
        return 1
    print(f"console password set for {person.name}; sign in at /login with the phone and it")
    return 0


PASSWORD_REFUSALS = {"bad_phone": "not a phone number",
                     "unknown_phone": "no active person has this phone number",
                     "weak_password": "the password needs at least 10 characters"}


def read_password() -> str:
    """Typed twice at a terminal (not echoed), else the first line of standard input; never an
    argument, which `ps` would show to every user of the machine."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("duban console-password: the two passwords differ")
    return first


def run_holidays_import(args: argparse.Namespace) -> int:
    from service.holidays import import_holidays

    settings = settings_of(args)
    report = asyncio.run(with_database(settings, import_holidays(settings, args.file)))
    print(report.text())
    return 1 if report.rejected else 0


def run_holidays_list(args: argparse.Namespace) -> int:
    from datetime import datetime

    from scheduler.clock import SHANGHAI
    from service.holidays import holidays_table

    today = datetime.now(SHANGHAI).date()
    print(asyncio.run(with_database(settings_of(args), holidays_table(args.year, today))))
    return 0


def run_replan(args: argparse.Namespace) -> int:
    from service.replan import replan_command

    settings = settings_of(args)
    code, text = asyncio.run(with_database(settings, replan_command(settings, args.board,
                                                                    args.matter)))
    print(text, file=sys.stderr if code else sys.stdout)
    return code


def run_simulate(args: argparse.Namespace) -> int:
    from service.simulate import ScenarioError, dumps, load_scenario, simulate

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"duban simulate: invalid scenario: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(dumps(asyncio.run(simulate(scenario))))
    return 0


async def with_database(settings: Settings, work):
    from service.db import close_database, open_database

    try:
        await open_database(settings.database_url)
    except BaseException:
        work.close()  # never started: no "never awaited" warning after the one line
        raise
    try:
        return await work
    finally:
        await close_database()


if __name__ == "__main__":
    sys.exit(main())
