"""`duban import-org`: units and people from the office's CSV or XLSX file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from models import BoardInitiator, Person, Role, Unit
from service.org_import import import_file

HEADER_ZH = ["单位编码", "单位名称", "姓名", "角色", "手机号", "Telegram ID", "立项版块"]
HEADER_EN = ["unit_key", "unit_name", "name", "role", "phone", "telegram", "boards"]
ORG = [
    ["dcs", "督查室", "王督查", "督办人", "13800000001", "", "daily，key_work、reform"],
    ["dcs", "督查室", "李主任", "主要负责人", "13800000002", "", ""],
    ["dcs", "督查室", "赵甲", "A岗", "138 0000 0003", "", ""],
    ["dcs", "督查室", "钱乙", "B岗", "+86 138-0000-0004", "", ""],
    ["czj", "财政局", "孙局长", "主要负责人", "13800000005", "", ""],
    ["czj", "财政局", "周甲", "A岗", "13800000006", "555001", ""],
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig",
              header: list[str] = HEADER_ZH) -> Path:
    lines = [",".join(f'"{cell}"' for cell in row) for row in [header, *rows]]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


async def people() -> dict[str, Person]:
    return {p.name: p for p in await Person.all().prefetch_related("unit")}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
async def test_csv_in_utf8_with_or_without_bom_or_gbk(db, tmp_path, encoding):
    report = await import_file(write_csv(tmp_path / "org.csv", ORG, encoding))

    assert report.rejected == []
    found = await people()
    assert sorted(found) == sorted(row[2] for row in ORG)
    assert found["赵甲"].role is Role.OPERATOR_A and found["赵甲"].unit.key == "dcs"
    assert found["钱乙"].phone == "+8613800000004"
    assert found["周甲"].telegram_chat_id == 555001 and found["周甲"].unit.name == "财政局"
    boards = {b.board: b.initiator_id for b in await BoardInitiator.all()}
    dcs = await Unit.get(key="dcs")
    assert boards == {"daily": dcs.id, "key_work": dcs.id, "reform": dcs.id}
    assert "单位：新增 2，更新 0，未变 0" in report.text()
    assert "人员：新增 6，更新 0，未变 0" in report.text()
    assert "立项版块：新增 3，更新 0，未变 0" in report.text()
    assert "拒绝：0 行" in report.text()


async def test_xlsx_first_sheet_with_english_headers_and_numeric_phones(db, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER_EN)
    sheet.append(["zdb", "重点办", "吴主任", "head", 13800000007, None, "engineering"])
    sheet.append(["zdb", "重点办", "郑甲", "operator_a", 13800000008.0, 777002, None])
    sheet.append([None] * 7)  # Excel leaves blank rows below the data
    sheet.append(["zdb", "重点办", "冯乙", "OPERATOR_B", "13800000009", None, None])
    workbook.create_sheet("notes").append(["not", "an", "org", "sheet"])
    workbook.save(tmp_path / "org.xlsx")

    report = await import_file(tmp_path / "org.xlsx")

    assert report.rejected == []
    found = await people()
    assert {n: (p.role, p.phone) for n, p in found.items()} == {
        "吴主任": (Role.HEAD, "+8613800000007"),
        "郑甲": (Role.OPERATOR_A, "+8613800000008"),
        "冯乙": (Role.OPERATOR_B, "+8613800000009"),
    }
    assert found["郑甲"].telegram_chat_id == 777002
    assert (await BoardInitiator.get(board="engineering")).initiator_id == found["吴主任"].unit.id


async def test_rejected_rows_name_the_row_and_the_reason_and_valid_rows_apply(db, tmp_path):
    other = await Unit.create(key="gaj", name="公安局")
    await Person.create(unit=other, name="陈警官", role=Role.STAFF, phone="+8613900000009")
    rows = [
        ["czj", "财政局", "孙局长", "主要负责人", "13800000005", "", ""],  # 2 ok
        ["czj", "财政局", "褚某", "组长", "13800000010", "", ""],  # 3 unknown role
        ["czj", "财政局", "卫某", "工作人员", "12345", "", ""],  # 4 invalid phone
        ["czj", "财政局", "", "工作人员", "13800000011", "", ""],  # 5 no name
        ["", "", "蒋某", "工作人员", "13800000012", "", ""],  # 6 no unit
        ["czj", "财政局", "沈某", "工作人员", "13800000005", "", ""],  # 7 phone of row 2
        ["czj", "财政局", "韩某", "工作人员", "13900000009", "", ""],  # 8 phone of 陈警官
        ["czj", "财政局", "杨局长", "主要负责人", "13800000013", "", ""],  # 9 second head
        ["czj", "财政局", "朱甲", "A岗", "13800000014", "", ""],  # 10 ok
        ["czj", "财政局", "秦某", "工作人员", "13800000015", "abc", "sports"],  # 11 two faults
    ]
    report = await import_file(write_csv(tmp_path / "org.csv", rows))

    reasons = dict(report.rejected)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 11]
    assert "未知角色“组长”" in reasons[3]
    assert "手机号“12345”无效" in reasons[4]
    assert reasons[5] == "缺少姓名"
    assert reasons[6] == "缺少单位编码、单位名称"
    assert reasons[7] == "手机号 +8613800000005 与第 2 行重复"
    assert reasons[8] == "手机号 +8613900000009 已登记给单位“公安局”的陈警官"
    assert "已有主要负责人（第 2 行 孙局长）" in reasons[9]
    assert "Telegram ID“abc”应为数字" in reasons[11] and "未知立项版块“sports”" in reasons[11]
    assert sorted(await people()) == ["孙局长", "朱甲", "陈警官"]
    text = report.text()
    assert "人员：新增 2，更新 0，未变 0" in text and "拒绝：8 行" in text
    assert "  第 3 行：未知角色“组长”" in text
    assert text.index("第 9 行") < text.index("第 11 行")  # in row order


async def test_a_whole_file_problem_imports_nothing(db, tmp_path):
    path = tmp_path / "org.csv"
    path.write_text("单位编码,姓名,角色\ndcs,王督查,督办人\n", encoding="utf-8")

    report = await import_file(path)

    assert report.rejected == [(0, "第 1 行（表头）缺少必填列：单位名称（unit_name）、手机号（phone）")]
    assert "  文件：第 1 行（表头）缺少必填列" in report.text()
    assert await Person.all().count() == 0
    assert (await import_file(tmp_path / "org.txt")).rejected[0].reason.startswith("不支持的文件类型")


async def test_reimport_updates_and_never_duplicates(db, tmp_path):
    await import_file(write_csv(tmp_path / "first.csv", ORG))

    again = await import_file(write_csv(tmp_path / "again.csv", ORG, "gbk"))
    assert "人员：新增 0，更新 0，未变 6" in again.text()
    assert "单位：新增 0，更新 0，未变 2" in again.text()

    changed = [list(row) for row in ORG]
    changed[1][4] = "13800000022"  # 李主任 has a new phone: matched by unit and name
    changed[5][3] = "B岗"  # 周甲 moves to the B post, so 张新 may take the A post
    changed[5][5] = ""  # an empty Telegram cell keeps the linked chat
    changed[0][6] = "daily"  # boards not listed keep their initiator
    changed.append(["czj", "财政局", "张新", "A岗", "13800000023", "", "investment"])
    for row in changed[4:]:
        row[1] = "区财政局"  # the unit is renamed
    report = await import_file(write_csv(tmp_path / "changed.csv", changed))

    assert report.rejected == []
    assert "人员：新增 1，更新 2，未变 4" in report.text()
    assert "单位：新增 0，更新 1，未变 1" in report.text()
    assert "立项版块：新增 1，更新 0，未变 1" in report.text()
    assert await Person.all().count() == 7 and await Unit.all().count() == 2
    found = await people()
    assert found["李主任"].phone == "+8613800000022"
    assert found["周甲"].role is Role.OPERATOR_B and found["周甲"].telegram_chat_id == 555001
    assert found["张新"].unit.name == "区财政局"
    assert await BoardInitiator.all().count() == 4


async def test_a_post_changes_hands_only_when_the_old_holder_is_listed(db, tmp_path):
    await import_file(write_csv(tmp_path / "first.csv", ORG))
    new_head = ["czj", "财政局", "杨局长", "主要负责人", "13800000013", "", ""]

    refused = await import_file(write_csv(tmp_path / "refused.csv", [new_head]))
    assert [row for row, _ in refused.rejected] == [2]
    assert "已有主要负责人孙局长" in refused.rejected[0].reason

    old_head = ["czj", "财政局", "孙局长", "工作人员", "13800000005", "", ""]
    handed = await import_file(write_csv(tmp_path / "handed.csv", [new_head, old_head]))
    assert handed.rejected == []
    found = await people()
    assert (found["杨局长"].role, found["孙局长"].role) == (Role.HEAD, Role.STAFF)


async def test_r4_warns_about_a_unit_without_an_a_or_b_post(db, tmp_path):
    report = await import_file(write_csv(tmp_path / "org.csv", ORG))

    assert report.warnings == ["单位“财政局”（czj）没有B岗系统管理员（R4：每个单位须设 A岗和B岗）"]
    assert report.text().endswith("警告：" + report.warnings[0])


def test_console_script_imports_and_exits_1_on_rejected_rows(tmp_path):
    """The real `duban import-org` against a SQLite file, as the office will run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env["DUBAN_DATABASE_URL"] = f"sqlite://{tmp_path / 'duban.sqlite3'}"
    duban = str(Path(sys.executable).with_name("duban"))

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([duban, "import-org", str(path)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    clean = run(write_csv(tmp_path / "org.csv", ORG, "gbk"))
    assert clean.returncode == 0, clean.stderr
    assert "人员：新增 6，更新 0，未变 0" in clean.stdout and "拒绝：0 行" in clean.stdout

    bad = [*ORG, ["czj", "财政局", "褚某", "组长", "13800000010", "", ""]]
    rejected = run(write_csv(tmp_path / "bad.csv", bad))
    assert rejected.returncode == 1, rejected.stderr
    assert "人员：新增 0，更新 0，未变 6" in rejected.stdout
    assert "第 8 行：未知角色“组长”" in rejected.stdout
