"""Words that say the work is not done (未办完), for the reply parser (R8, R27).

A completion application stops all chasing (R8), so the parser takes completion words
only when nothing around them says the work is not done: a negation (没能完成, 暂时无法
办结, 不能按期完成), a potential complement (办不完), a part (完成了大半, 完成进度七成,
基本完成), a heading (完成情况如下), what remains (剩余两处), a plan (预计月底完成) or a
question (办结了吗). The patterns run on normalised text (:mod:`replies.normalize`).
"""

import re

__all__ = [
    "ASKING",
    "EXTENSION_WORD",
    "HEADING_WORD",
    "NOT_AGREED",
    "AGREEMENT_DENIED",
    "EXTENSION_DENIED",
    "RECEIPT_DENIED",
    "NOT_DONE",
    "NOT_DONE_AFTER_NUMBER",
    "NOT_DONE_OR_HEADING",
    "NOT_DONE_START",
]

_DONE = r"(?:完成|办结|完结|办完|做完|干完|弄完|搞完|完工|竣工|销号|结案|办好|整改到位|解决)"
_NEG = (
    r"(?:没有|没能|未能|尚未|暂未|还未|仍未|还没有|还没|没|未|无法|难以|不能够?|不可能|不会"
    r"|来不及|不太可能|不一定能?|不|别|勿|甭)"
)
_GAP = r"[还尚暂时仍然依旧目前至今按期如能够可以得全部完彻底都均已经再一直及]{0,6}"
_PART = (
    r"(?:大半|一半|多半|过半|半数|(?:大|小|一)?部分|基本|初步|大体|[0-9]+(?:\.[0-9]+)? ?%"
    r"|百分之[0-9一二三四五六七八九十百]+|[一二三四五六七八九两几][0-9]?成)"
)
# "完成率100%" and "已完成100%" say it is all done.
_ALL_DONE = r"(?:了|的)?(?:率|比例|进度)?(?:达到?|为)? ?(?:100 ?%|百分之百)"
# "完成情况如下：…" opens a report; after an explicit 办结 ("办结 完成情况：…") it is the
# summary's heading, while "办结情况：…" still asks.
# The same for a plan: "完成时间12月31日", "完成后将报送" (but "办结 整改完成后已验收").
HEADING_WORD = re.compile(r"情况|时间|日期|时限|期限|目标|计划|后")
_HEADING = rf"{_DONE}(?:{HEADING_WORD.pattern})"
_NOT_DONE_FORMS = (
    rf"{_NEG}{_GAP}{_DONE}",
    r"[办做干搞弄改修建忙整完结]不(?:完|了|成|好|结)|完成不了|办结不了",
    rf"{_DONE}(?!{_ALL_DONE})(?:了|的)?(?:约|近|将近|接近|超过?|过|达到?)?"
    rf"(?:{_PART}|[0-9]|进度|率|比例|量|度|数)",
    rf"{_PART}(?:已经|均已|已)?{_DONE}",
    r"剩余|剩下|还剩|尚余|余下|尚有|仍有|待完成|待办结|还有[^ ,.;!?]{0,8}(?:未|没|待)",
    rf"(?:预计|计划|争取|力争|将于|将在|拟于?|准备|打算|有望|确保|尽快|抓紧|正在)[^,.;!?:]{{0,12}}{_DONE}",
)
NOT_DONE = re.compile("|".join(_NOT_DONE_FORMS))
NOT_DONE_OR_HEADING = re.compile("|".join((*_NOT_DONE_FORMS, _HEADING)))
ASKING = re.compile(
    rf"{_DONE}[^,.;!?]{{0,4}}(?:吗|么|与否|没有?(?![^ ,.;!?]))"
    rf"|(?:能否|是否|可否|能不能|可不可以|怎么|如何|怎样|何时|什么时候)[^,.;!?]{{0,6}}{_DONE}"
)
# A reply without a command word that starts by saying the work is not done is a
# progress report ("D17 还没办结，预计下周"), or an extension request when it asks for one.
# What may come before: a few words of time, subject or manner ("这周办不完", "我们已经
# 完成了80%"), never any text, so that "您有2件未办结事项" (our own answer echoed by an
# auto-responder) stays no report. "未办结的事项" is a description, not a report either.
_NOT_DONE_NOW = "(?:" + "|".join((*_NOT_DONE_FORMS[:4], _HEADING)) + r")(?!的|事项|任务)"
_NOT_DONE_LEAD = (
    r"(?:这周|本周|这个月|本月|今年|年底前|月底前|[0-9]{1,2}[号日]前|目前|现在|当前|暂时|今天"
    r"|按期|按时|如期|我们|我单位|我局|已经|整改|工作|任务|事项|该项|此项|这项|本项|还|仍)"
)
NOT_DONE_START = re.compile(rf"{_NOT_DONE_LEAD}{{0,2}}(?:{_NOT_DONE_NOW})")
# After a short number only a few words may come first: "3号 暂时无法办结", while
# "15号前完成不了" is no address but a date.
NOT_DONE_AFTER_NUMBER = re.compile(
    rf"(?:目前|现在|暂时|还|该项|此项|这项|该事项|整改|工作)?(?:{_NOT_DONE_NOW})"
)
# After 同意/批准: a negation, a question or a deferral takes the approval back.
NOT_AGREED = re.compile(r"不|没|吗|么|否|暂缓|缓|再议|待定|研究后|考虑")
# Anywhere in an approval or a consent: "同意D17延期【不同意】", "D17 同意（没同意）".
AGREEMENT_DENIED = re.compile(
    r"(?:不|没有?|未|暂不|不能|无法|不予)(?:同意|批准|通过|认可|准予?|可以|行)")
# A receipt with a clause that says it was not received ("D17 收到？没收到啊", "【没收到】");
# "收到，没收到附件" receives the matter and says what is missing.
RECEIPT_DENIED = re.compile(
    r"(?:^|(?<=[ ,.;!?(\[]))(?:没有?|未)(?:收到|收悉)(?:啊|呢|吧|哦)?(?=$|[ ,.;!?)\]])")
# Anywhere in an extension request: "申请延期至12月31日，不需要延期了", "（不用了）".
EXTENSION_DENIED = re.compile(
    r"(?:不|无|没|毋)(?:需要?|用|必)?再?(?:申请)?(?:延期|延长|推迟|顺延|延后|延迟)|不(?:用|需要?)了")
EXTENSION_WORD = re.compile(r"延期|延长|推迟|顺延|延后|延迟")
