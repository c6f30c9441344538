"""Import units and their people from the office's spreadsheet (`duban import-org FILE`).

Office staff prepare the file in Excel, so the reader takes what Excel produces: headers in
Chinese or English, CSV in UTF-8 (with or without BOM) or GBK, XLSX whose phone numbers
became numbers. Every rejected row is reported with its row number as Excel shows it and a
reason in Chinese, for the people who fix the file. Valid rows are applied in one
transaction; a re-import updates people, units and boards instead of adding them again.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models import BoardInitiator, Person, Role, Unit
from scheduler.policy import BOARD_NAMES, Board
from sms_gateway.text import to_e164

COLUMNS = {  # field -> accepted headers, compared case-insensitively; the Chinese one last
    "unit_key": ("unit_key", "单位编码"),
    "unit_name": ("unit_name", "单位名称"),
    "name": ("name", "姓名"),
    "role": ("role", "角色"),
    "phone": ("phone", "手机号"),
    "telegram": ("telegram", "telegram_id", "telegram id"),
    "boards": ("boards", "立项版块"),
}
REQUIRED = ("unit_key", "unit_name", "name", "role", "phone")
ROLE_NAMES = {
    Role.HEAD: "主要负责人",
    Role.DIRECTOR: "办公室主任",
    Role.OPERATOR_A: "A岗",
    Role.OPERATOR_B: "B岗",
    Role.SUPERVISOR: "督办人",
    Role.LEADER: "分管领导",
    Role.STAFF: "工作人员",
}
ROLES = {role.value: role for role in Role} | {
    name.lower(): role for role, name in ROLE_NAMES.items()}
BOARDS = {board.value: board for board in Board} | {
    name: board for board, name in BOARD_NAMES.items()}
TEXT_LIMITS = {"unit_key": 64, "unit_name": 128, "name": 64}  # the columns (models/org.py)
TELEGRAM_IDS = range(-(2**63), 2**63)  # a BIGINT column
SINGLE_POSTS = (Role.HEAD, Role.OPERATOR_A, Role.OPERATOR_B)  # one holder per unit
OPERATORS = (Role.OPERATOR_A, Role.OPERATOR_B)
LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")  # staff type Chinese punctuation too


class FileProblem(Exception):
    """The file as a whole cannot be used; nothing is imported."""


class RowProblem(Exception):
    """A row cannot be imported; the message says why, in Chinese."""


@dataclass(frozen=True)
class Row:
    """One valid line of the file: a person and the unit they belong to."""

    number: int  # as Excel shows it: the header is row 1
    unit_key: str
    unit_name: str
    name: str
    role: Role
    phone: str  # E.164
    telegram: int | None
    boards: tuple[Board, ...]


class Rejected(NamedTuple):
    row: int  # 0: the file as a whole
    reason: str


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"新增 {self.created}，更新 {self.updated}，未变 {self.unchanged}"


@dataclass
class ImportReport:
    units: Tally = field(default_factory=Tally)
    people: Tally = field(default_factory=Tally)
    boards: Tally = field(default_factory=Tally)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def reject(self, row: int, reason: str) -> None:
        self.rejected.append(Rejected(row, reason))

    def text(self) -> str:
        lines = [f"单位：{self.units}", f"人员：{self.people}", f"立项版块：{self.boards}",
                 f"拒绝：{len(self.rejected)} 行"]
        lines += [f"  {where(r.row)}：{r.reason}" for r in sorted(self.rejected)]
        lines += [f"警告：{warning}" for warning in self.warnings]
        return "\n".join(lines)


def where(row: int) -> str:
    return f"第 {row} 行" if row else "文件"


async def import_file(path: str | Path) -> ImportReport:
    """Import the file; rejected rows are reported, the valid ones applied together."""
    report = ImportReport()
    try:
        rows = parse_rows(read_table(Path(path)), report)
    except FileProblem as exc:
        report.reject(0, str(exc))
        return report
    async with in_transaction():
        rows, matches = await match_people(rows, report)
        rows = await check_posts(rows, matches, report)
        await apply(rows, matches, report)
        report.warnings = await missing_operators()
    return report


# ---------------------------------------------------------------------------------------
# Reading the file


def read_table(path: Path) -> list[list[str]]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise FileProblem(f"不支持的文件类型“{suffix or path.name}”：请使用 .csv 或 .xlsx 文件")
    try:
        return read_csv(path) if suffix == ".csv" else read_xlsx(path)
    except OSError as exc:
        raise FileProblem(f"无法打开文件 {path}（{exc.strerror or exc}）") from None


def read_csv(path: Path) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(decode(path)))]


def decode(path: Path) -> str:
    """UTF-8 ("CSV UTF-8" in Excel adds a BOM), else GBK: plain "CSV" from Excel on Chinese
    Windows is saved in the ANSI code page. GB18030 is read as it is a superset of GBK."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileProblem("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV")


def read_xlsx(path: Path) -> list[list[str]]:
    """The first sheet, from row 1 on, so row numbers match what Excel shows."""
    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError) as exc:
        raise FileProblem(f"无法读取 Excel 文件（{exc}）") from None
    sheet = workbook.worksheets[0]
    return [[cell_text(value) for value in row]
            for row in sheet.iter_rows(min_row=1, values_only=True)]


def cell_text(value: Any) -> str:
    """Excel stores a phone number typed without a leading ' as a number (often a float)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_rows(table: list[list[str]], report: ImportReport) -> list[Row]:
    """Valid rows; the others go to the report, and so do clashes between rows of the file."""
    if not table:
        raise FileProblem("文件是空的")
    seen = FileIndex()
    rows = []
    for number, cells in records(table):
        try:
            row = parse_row(number, cells)
            seen.check(row)
        except RowProblem as exc:
            report.reject(number, str(exc))
            continue
        seen.add(row)
        rows.append(row)
    return rows


def records(table: list[list[str]]) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, field -> text) of every non-blank row below the header."""
    columns = header_columns(table[0])
    for number, cells in enumerate(table[1:], start=2):
        if any(cells):
            yield number, {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}


def header_columns(header: list[str]) -> dict[str, int]:
    aliases = {alias: name for name, names in COLUMNS.items() for alias in names}
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        name = aliases.get(title.strip().lower())
        if name is not None:
            columns.setdefault(name, index)
    missing = [f"{COLUMNS[name][-1]}（{name}）" for name in REQUIRED if name not in columns]
    if missing:
        raise FileProblem(f"第 1 行（表头）缺少必填列：{'、'.join(missing)}")
    return columns


def parse_row(number: int, cells: dict[str, str]) -> Row:
    """One row on its own; every problem of the row in one reason, so it is fixed at once."""
    missing = [COLUMNS[key][-1] for key in ("unit_key", "unit_name", "name") if not cells[key]]
    problems = [f"缺少{'、'.join(missing)}"] if missing else []
    problems += [problem for key, limit in TEXT_LIMITS.items()
                 if (problem := text_problem(COLUMNS[key][-1], cells[key], limit))]
    role = collect(problems, parse_role, cells["role"])
    phone = collect(problems, parse_phone, cells["phone"])
    telegram = collect(problems, parse_telegram, cells.get("telegram", ""))
    boards = collect(problems, parse_boards, cells.get("boards", ""))
    if problems:
        raise RowProblem("；".join(problems))
    return Row(number, cells["unit_key"], cells["unit_name"], cells["name"], role, phone,
               telegram, boards)


def text_problem(column: str, text: str, limit: int) -> str | None:
    """Control characters (a NUL) and over-long text fit no column: the row is refused."""
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return f"{column}含有控制字符"
    if len(text) > limit:
        return f"{column}超过 {limit} 个字"
    return None


def collect(problems: list[str], parser: Callable[[str], Any], text: str) -> Any:
    """The parsed value, or None with the problem noted, so later cells are still checked."""
    try:
        return parser(text)
    except RowProblem as exc:
        problems.append(str(exc))
        return None


def parse_role(text: str) -> Role:
    role = ROLES.get(text.lower())
    if role is None:
        known = "、".join(ROLE_NAMES.values())
        raise RowProblem(f"未知角色“{text}”（可填：{known}）" if text else f"缺少角色（可填：{known}）")
    return role


def parse_phone(text: str) -> str:
    if not text:
        raise RowProblem("缺少手机号")
    try:
        return to_e164(text)
    except ValueError:
        raise RowProblem(f"手机号“{text}”无效") from None


def parse_telegram(text: str) -> int | None:
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        raise RowProblem(f"Telegram ID“{text}”应为数字") from None
    if number not in TELEGRAM_IDS:
        raise RowProblem(f"Telegram ID“{text}”超出范围")
    return number


def parse_boards(text: str) -> tuple[Board, ...]:
    names = [name for name in LIST_SEPARATORS.split(text) if name]
    unknown = [name for name in names if name.lower() not in BOARDS]
    if unknown:
        known = "、".join(board.value for board in Board)
        raise RowProblem(f"未知立项版块“{'、'.join(unknown)}”（可填：{known}）")
    return tuple(dict.fromkeys(BOARDS[name.lower()] for name in names))


class FileIndex:
    """What the rows accepted so far claim: each phone, Telegram ID and single post once, one
    name per unit code, one initiator per board."""

    def __init__(self) -> None:
        self.phones: dict[str, Row] = {}
        self.telegrams: dict[int, Row] = {}
        self.units: dict[str, Row] = {}
        self.posts: dict[tuple[str, Role], Row] = {}
        self.boards: dict[Board, Row] = {}

    def check(self, row: Row) -> None:
        problems = []
        if other := self.phones.get(row.phone):
            problems.append(f"手机号 {row.phone} 与第 {other.number} 行重复")
        if other := self.telegrams.get(row.telegram):
            problems.append(f"Telegram ID {row.telegram} 与第 {other.number} 行重复")
        if (other := self.units.get(row.unit_key)) and other.unit_name != row.unit_name:
            problems.append(f"单位编码 {row.unit_key} 在第 {other.number} 行的单位名称是"
                            f"“{other.unit_name}”，此处是“{row.unit_name}”")
        if other := self.posts.get((row.unit_key, row.role)):
            problems.append(f"单位“{row.unit_name}”已有{ROLE_NAMES[row.role]}"
                            f"（第 {other.number} 行 {other.name}），每个单位只能有一人")
        for board in row.boards:
            if (other := self.boards.get(board)) and other.unit_key != row.unit_key:
                problems.append(f"立项版块 {board} 已由第 {other.number} 行的"
                                f"单位“{other.unit_name}”立项，每个版块只能有一个立项单位")
        if problems:
            raise RowProblem("；".join(problems))

    def add(self, row: Row) -> None:
        self.phones[row.phone] = row
        if row.telegram is not None:
            self.telegrams[row.telegram] = row
        self.units.setdefault(row.unit_key, row)
        if row.role in SINGLE_POSTS:
            self.posts[(row.unit_key, row.role)] = row
        for board in row.boards:
            self.boards.setdefault(board, row)


# ---------------------------------------------------------------------------------------
# Against the database


async def match_people(rows: list[Row], report: ImportReport
                       ) -> tuple[list[Row], dict[int, Person | None]]:
    """Each row's person already on record: by phone, else by unit and name.

    A phone on record under another name belongs to someone else: the row is rejected
    rather than renaming that person. Phones are matched for the whole file before names,
    so a name match never takes a person another row holds by phone.
    """
    owners = {p.phone: p for p in await Person.filter(phone__in=[r.phone for r in rows])
              .select_related("unit")}
    matches: dict[int, Person | None] = {}
    for row in rows:
        owner = owners.get(row.phone)
        if owner is not None and owner.name != row.name:
            report.reject(row.number, f"手机号 {row.phone} 已登记给单位“{owner.unit.name}”的"
                                      f"{owner.name}")
        else:
            matches[row.number] = owner
    claimed = {p.id for p in matches.values() if p is not None}
    for row in rows:
        if row.number in matches and matches[row.number] is None:
            person = await Person.filter(unit__key=row.unit_key, name=row.name).exclude(
                id__in=claimed).order_by("id").first()
            if person is not None:
                claimed.add(person.id)
            matches[row.number] = person
    await check_telegrams(rows, matches, report)
    return [r for r in rows if r.number in matches], matches


async def check_telegrams(rows: list[Row], matches: dict[int, Person | None],
                          report: ImportReport) -> None:
    """A Telegram ID linked to someone else is rejected (it is unique per person)."""
    ids = [r.telegram for r in rows if r.number in matches and r.telegram is not None]
    owners = {p.telegram_chat_id: p for p in await Person.filter(telegram_chat_id__in=ids)}
    for row in rows:
        if row.number not in matches or row.telegram is None:
            continue
        owner, person = owners.get(row.telegram), matches[row.number]
        if owner is not None and (person is None or owner.id != person.id):
            report.reject(row.number, f"Telegram ID {row.telegram} 已登记给{owner.name}")
            del matches[row.number]


async def check_posts(rows: list[Row], matches: dict[int, Person | None],
                      report: ImportReport) -> list[Row]:
    """A head or A/B post already held by someone the file does not list stays theirs (R4).

    Someone the file lists gets the role the file gives them, so a post changes hands when
    the file names both the new holder and the old one's new role. Rejecting a row can
    leave its person in their old post, so the check repeats until nothing changes.
    """
    keys = {r.unit_key for r in rows if r.role in SINGLE_POSTS}
    holders = {(p.unit.key, p.role): p for p in await Person.filter(
        active=True, role__in=SINGLE_POSTS, unit__key__in=keys).select_related("unit")}
    while True:
        listed = {matches[r.number].id for r in rows if matches[r.number] is not None}
        clashes = [(row, holder) for row in rows
                   if (holder := holders.get((row.unit_key, row.role))) and holder.id not in listed]
        if not clashes:
            return rows
        for row, holder in clashes:
            report.reject(row.number, f"单位“{row.unit_name}”已有{ROLE_NAMES[row.role]}"
                                      f"{holder.name}：如需更换，请在本文件中一并列出"
                                      f"{holder.name}并填写其新角色")
        rejected = {row.number for row, _ in clashes}
        rows = [r for r in rows if r.number not in rejected]


async def apply(rows: list[Row], matches: dict[int, Person | None],
                report: ImportReport) -> None:
    units: dict[str, Unit] = {}
    for row in rows:
        if row.unit_key not in units:
            units[row.unit_key] = await save_unit(row, report.units)
        await save_person(row, units[row.unit_key], matches[row.number], report.people)
    claims = {board: units[row.unit_key] for row in rows for board in row.boards}
    for board, unit in claims.items():
        await save_board(board, unit, report.boards)


async def save_unit(row: Row, tally: Tally) -> Unit:
    unit = await Unit.get_or_none(key=row.unit_key)
    if unit is None:
        tally.created += 1
        return await Unit.create(key=row.unit_key, name=row.unit_name)
    await update(unit, {"name": row.unit_name}, tally)
    return unit


async def save_person(row: Row, unit: Unit, person: Person | None, tally: Tally) -> None:
    values: dict[str, Any] = {"unit_id": unit.id, "name": row.name, "role": row.role,
                              "phone": row.phone, "active": True}
    # An empty cell keeps the ID: people also link their chat through the bot.
    if row.telegram is not None:
        values["telegram_chat_id"] = row.telegram
    if person is None:
        tally.created += 1
        await Person.create(**values)
    else:
        await update(person, values, tally)


async def save_board(board: Board, unit: Unit, tally: Tally) -> None:
    row = await BoardInitiator.get_or_none(board=board.value)
    if row is None:
        tally.created += 1
        await BoardInitiator.create(board=board.value, initiator=unit)
    else:
        await update(row, {"initiator_id": unit.id}, tally)


async def update(instance: Model, values: dict[str, Any], tally: Tally) -> None:
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, values[name])
    if changed:
        await instance.save(update_fields=changed)
        tally.updated += 1
    else:
        tally.unchanged += 1


async def missing_operators() -> list[str]:
    """R4: every unit has an A-post and a B-post operator."""
    held = {(unit_id, Role(role)) for unit_id, role in await Person.filter(
        active=True, role__in=OPERATORS).values_list("unit_id", "role")}
    return [f"单位“{unit.name}”（{unit.key}）没有{ROLE_NAMES[role]}系统管理员"
            f"（R4：每个单位须设 A岗和B岗）"
            for unit in await Unit.all().order_by("key")
            for role in OPERATORS if (unit.id, role) not in held]
