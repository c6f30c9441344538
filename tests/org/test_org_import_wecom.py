"""The org file's 企业微信 column: people are linked to WeCom by their UserID."""

from __future__ import annotations

from models import Person, Role, Unit
from service.org_import import import_file
from tests.org.test_org_import import write_csv

HEADER = ["单位编码", "单位名称", "姓名", "角色", "手机号", "企业微信", "立项版块"]


async def test_wecom_userids_are_imported_checked_and_kept_unique(db, tmp_path):
    unit = await Unit.create(key="other", name="其他单位")
    await Person.create(unit=unit, name="老张", role=Role.STAFF, phone="+8613700000001",
                        wecom_userid="ZhangSan")
    rows = [
        ["czj", "财政局", "孙局长", "主要负责人", "13800000005", "SunJuZhang", ""],
        ["czj", "财政局", "周甲", "A岗", "13800000006", "zhou.jia@czj", ""],
        ["czj", "财政局", "吴乙", "B岗", "13800000007", "zhou.jia@czj", ""],
        ["czj", "财政局", "郑丙", "工作人员", "13800000008", "有空格 的", ""],
        ["czj", "财政局", "冯丁", "工作人员", "13800000009", "ZhangSan", ""],
        ["czj", "财政局", "陈戊", "工作人员", "13800000010", "", ""],
    ]
    report = await import_file(write_csv(tmp_path / "org.csv", rows, header=HEADER))

    reasons = dict(report.rejected)
    assert reasons[4] == "企业微信账号 zhou.jia@czj 与第 3 行重复"
    assert reasons[5].startswith("企业微信账号“有空格 的”无效")
    assert reasons[6] == "企业微信账号 ZhangSan 已登记给老张"
    found = {p.name: p.wecom_userid for p in await Person.all()}
    assert found["孙局长"] == "SunJuZhang" and found["周甲"] == "zhou.jia@czj"
    assert found["陈戊"] is None and "冯丁" not in found
