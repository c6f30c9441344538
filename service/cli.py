"""The `duban` console script: serve, migrate, import-org, plan, simulate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from service.config import ConfigError, Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per tick
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"duban: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duban", description="The 13710 supervision service.")
    parser.add_argument("--config", help="a TOML settings file (or DUBAN_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server, the clock and the channels")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=run_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=run_migrate)

    import_org = commands.add_parser("import-org", help="import units and people (CSV or XLSX)")
    import_org.add_argument("file")
    import_org.set_defaults(run=run_import_org)

    register = commands.add_parser("register", help="register a matter from a YAML file")
    register.add_argument("file")
    register.set_defaults(run=run_register)

    plan = commands.add_parser("plan", help="a matter's upcoming actions")
    plan.add_argument("code")
    plan.add_argument("--days", type=int, default=35, help="how far ahead (default 35)")
    plan.set_defaults(run=run_plan)

    scores = commands.add_parser("scores", help="unit points by quarter and the year's ranking")
    scores.add_argument("--year", type=int, help="default: this year (Asia/Shanghai)")
    scores.set_defaults(run=run_scores)

    link = commands.add_parser("link-code", help="text a person a one-time messenger link code")
    link.add_argument("phone")
    link.set_defaults(run=run_link_code)

    add_holiday_commands(commands)
    add_replan_command(commands)

    simulate = commands.add_parser("simulate", help="rehearse a scenario on a virtual clock")
    simulate.add_argument("scenario")
    simulate.set_defaults(run=run_simulate)
    return parser


def add_holiday_commands(commands: argparse._SubParsersAction) -> None:
    holidays = commands.add_parser("holidays", help="the working-day calendar (R6)")
    actions = holidays.add_subparsers(dest="holidays_command", required=True)
    load = actions.add_parser("import", help="load a holiday notice (CSV, XLSX or YAML)")
    load.add_argument("file")
    load.set_defaults(run=run_holidays_import)
    show = actions.add_parser("list", help="each year's source and the imported days")
    show.add_argument("--year", type=int)
    show.set_defaults(run=run_holidays_list)


def add_replan_command(commands: argparse._SubParsersAction) -> None:
    replan = commands.add_parser("replan", help="put open matters on the current board policy")
    replan.add_argument("--board")
    replan.add_argument("--matter", help="a matter's code")
    replan.set_defaults(run=run_replan)


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def run_serve(args: argparse.Namespace) -> int:
    from service.app import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
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
    from service.register import register_file
    from workflow.errors import Refused

    settings = settings_of(args)
    try:
        matter = asyncio.run(with_database(settings, register_file(settings, args.file)))
    except ValueError as exc:
        print(f"duban register: {exc}", file=sys.stderr)
        return 1
    except Refused as exc:
        detail = ", ".join(f"{k}={v}" for k, v in exc.params.items())
        print(f"duban register: refused: {exc.code}{f' ({detail})' if detail else ''}",
              file=sys.stderr)
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

    from scheduler.clock import SHANGHAI
    from workflow.scores import ranking_table, year_ranking

    settings = settings_of(args)
    year = args.year or datetime.now(SHANGHAI).year
    rows = asyncio.run(with_database(settings, year_ranking(year)))
    print(ranking_table(year, rows))
    return 0


def run_link_code(args: argparse.Namespace) -> int:
    from service.link_code import UnknownPerson, send_link_code

    settings = settings_of(args)
    try:
        code = asyncio.run(with_database(settings, send_link_code(args.phone)))
    except (UnknownPerson, ValueError) as exc:
        print(f"duban link-code: {exc}", file=sys.stderr)
        return 1
    print(f"link code {code} queued by SMS to {args.phone}; valid for 24 hours")
    return 0


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
    logging.getLogger().setLevel(logging.WARNING)
    sys.stdout.write(dumps(asyncio.run(simulate(scenario))))
    return 0


async def with_database(settings: Settings, work):
    from service.db import close_database, open_database

    await open_database(settings.database_url)
    try:
        return await work
    finally:
        await close_database()


if __name__ == "__main__":
    sys.exit(main())
