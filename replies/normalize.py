"""Normalisation of inbound replies (回复规范化).

Replies come from basic phones and chat apps: full-width letters and digits, Chinese
punctuation, invisible characters pasted along, emoji, and a signature at the end.
The grammar in :mod:`replies.parser` is written against the normalised form only, so
every channel gets the same leniency.

``normalize`` is idempotent: ``normalize(normalize(t)) == normalize(t)``.
"""

import re
import unicodedata
from collections.abc import Callable

__all__ = ["normalize"]

# Quotes and brackets people type from different input methods, unified so the grammar
# only knows ASCII quotes and () [] brackets. Dashes: NFKC keeps most dash variants
# apart, so they are folded here into "-" (hyphen) and "—" (the Chinese dash ——).
_UNIFY = str.maketrans(
    {
        **dict.fromkeys("“”„‟〝〞〟「」『』", '"'),
        **dict.fromkeys("‘’‚‛", "'"),
        **dict.fromkeys("【〔〖〘", "["),
        **dict.fromkeys("】〕〗〙", "]"),
        **dict.fromkeys("‐‑‒–−﹣", "-"),
        "―": "—",
        "〜": "~",
    }
)

_WHITESPACE = re.compile(r"\s+")

# Characters that may stay at the edges although they are punctuation or symbols:
# "完成率85%" must keep its "%".
_KEEP_AT_EDGES = frozenset("%‰‱°")

# Categories stripped from both ends: other/dash/connector punctuation, math and other
# symbols (emoji), modifier symbols. Opening and closing brackets (Ps/Pe/Pi/Pf) stay:
# "【D17】收到" needs its bracket and a body may end with "(详见附件)".
_EDGE_CATEGORIES = frozenset({"Po", "Pd", "Pc", "Sm", "So", "Sk"})

# Signatures at the very end: "——水务局李一", "--李一", "(李一)", "【水务局】".
# A dash or round-bracket signature must look like a unit and/or a person, so that
# "——约八成" or "(已完成)" in a report body survive. A person is one of the ~100 most
# common surnames (minus 万 方 向 于, which mostly start ordinary words) followed by one
# or two characters, a compound surname, or 小/老 + surname ("小李").
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵钱严覃武戴莫孔汤"
)
_HAN = "\u4e00-\u9fff"
_PERSON = (
    rf"(?:[小老][{_SURNAMES}]"
    rf"|(?:欧阳|司马|诸葛|上官|东方|皇甫|令狐|慕容)[{_HAN}]{{1,2}}"
    rf"|[{_SURNAMES}][{_HAN}]{{1,2}})"
)
_UNIT = (
    rf"[{_HAN}]{{1,15}}"
    r"(?:局|委|办|室|处|科|所|站|队|院|厅|中心|公司|街道|镇|乡|村|社区|集团|政府|委员会)"
)
_WHO = rf"(?:(?:{_UNIT}) ?)?{_PERSON}|{_UNIT}"
# Square brackets are the SMS signature mark: any short Chinese content without digits.
_BRACKETED = rf"\[(?=[^\[\]]*[{_HAN}])[^\[\]0-9]{{1,20}}\]"
_TRAILING_SIGNATURE = re.compile(
    rf"(?:(?:—{{1,4}}|-{{2,4}}) ?(?:{_WHO})|\((?:{_WHO})\)|{_BRACKETED})$"
)
_LEADING_SIGNATURE = re.compile(_BRACKETED)
# Signatures are short; only the tail is searched so long texts stay cheap.
_SIGNATURE_WINDOW = 64


def normalize(text: str) -> str:
    """Return the canonical form of a reply that the grammar is written against.

    NFKC (full-width → half-width), invisible characters dropped, quotes, brackets and
    dashes unified, whitespace collapsed to single spaces, then signatures and edge
    punctuation/emoji stripped until nothing more changes. Letter case is kept (codes
    and English words are matched case-insensitively; bodies keep what was written).
    A message made only of question marks (and other strippable characters) becomes
    "?" so the help request survives.
    """
    s = _drop_invisible(text)
    s = unicodedata.normalize("NFKC", s).translate(_UNIFY)
    s = _WHITESPACE.sub(" ", s)
    tidied = _tidy(s)
    if not tidied and "?" in s:
        return "?"
    return tidied


def _drop_invisible(text: str) -> str:
    """Remove zero-width and format characters, controls and emoji variation selectors.

    Done before NFKC so that removing them cannot leave a sequence NFKC would compose.
    """
    return "".join(ch for ch in text if not _is_invisible(ch))


def _is_invisible(ch: str) -> bool:
    if ch.isspace():
        return False
    if unicodedata.category(ch) in ("Cf", "Cc"):
        return True
    # Variation selectors and the keycap mark: "1️⃣" should read as "1".
    return "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef" or ch == "\u20e3"


def _tidy(s: str) -> str:
    """Strip edge junk and signatures repeatedly, the end first.

    "收到。(李一)" needs both, in turn; and the end goes first so that in "?——李一" the
    dash still marks a signature when the start is stripped.
    """
    s = _until_stable(s, _strip_end)
    return _until_stable(s, _strip_start)


def _until_stable(s: str, step: Callable[[str], str]) -> str:
    while (stripped := step(s)) != s:
        s = stripped
    return s


def _strip_end(s: str) -> str:
    end = len(s)
    while end and _is_edge_junk(s[end - 1]):
        end -= 1
    s = s[:end]
    signature = _TRAILING_SIGNATURE.search(s, max(0, len(s) - _SIGNATURE_WINDOW))
    return s[: signature.start()] if signature else s


def _strip_start(s: str) -> str:
    start = 0
    while start < len(s) and _is_edge_junk(s[start]):
        start += 1
    s = s[start:]
    signature = _LEADING_SIGNATURE.match(s)
    return s[signature.end() :] if signature else s


def _is_edge_junk(ch: str) -> bool:
    if ch.isspace():
        return True
    return ch not in _KEEP_AT_EDGES and unicodedata.category(ch) in _EDGE_CATEGORIES
