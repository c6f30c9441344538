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

# Traditional characters (HK/TW phones, some IMEs) read as their simplified forms, one
# character for one, so "進度"/"辦結"/"延長" are the grammar's "进度"/"办结"/"延长". The
# table covers the grammar's words and the common characters of reports (not a full
# converter: a rare traditional character simply stays as written).
_TRADITIONAL = (
    "約紮進辦結長說閱報匯彙饋請評級優認過無沒暫還時難兩個週禮號後內務單項對為經處負責"
    "導關發現場題應當這麼嗎謝際況們將問實戶區設備貨資證準駁歷農曆陰舊節會議確見決開門"
    "東車錢電話聯繫係計劃預爭達態變組織員專業術論據與從來讓學習條規則隊紀層總數幫詢滿"
    "復審積極樣標檢測驗質環線網絡統維護費價購運輸傳遞訊溝協調陳張劉楊黃趙吳孫馬鄭韓馮"
    "鄧蘇葉盧顧龔鍾譚陸賈韋鄒閆餘並狀歸檔簽頁圖樓築裝繕橋燈補齊啟動濟義團體參記錄縣鄉"
    "鎮莊園廠產職權萬億塊幾雖語讀寫聽聞視頻緊該識別種類續繼斷離閉間壞壓獲盡儘構機殘氣"
    "熱獨畢異眾礙稅穩筆範簡糾紛細終綜編緩縮績繳罰聲舉藥衛裡製複覺觀訂訪許詳誠諮貧貼賠"
    "賬趕跡較載輕連違遠遲選遺邊鄰醫釋鐵閒隨險雙雜靜響頂順須領頭願顯風飛養點齡盤臺檯鬆"
    "愛親漢灣溫濕療碼夠談訴鋪堅訓誤錯幣撥擬擴攤擺樹歲漲災煙獎疊礎禍競罷羅聖膚艱蘭衝覽"
    "試詞誰諾講譯貝財貫貸賀賴贈軍轉輛辭遊遙適遷醬釘鋼鍵鎖鏈閃閘陽階隱雲頓額飯飲館騎鬧"
    "魚鹽麥黨齒龍勞勵勢廳懷戰擔擠樂歡殺減湧濫灑爛牽監磚穫窩紋納紙絕綱緻縫繩腳臉艙薦虛"
    "誌課諸趨踐軌輔針銷鋁陣陝靂韻頒頸顆飼駐驅髒鬥鳴"
)
_SIMPLIFIED = (
    "约扎进办结长说阅报汇汇馈请评级优认过无没暂还时难两个周礼号后内务单项对为经处负责"
    "导关发现场题应当这么吗谢际况们将问实户区设备货资证准驳历农历阴旧节会议确见决开门"
    "东车钱电话联系系计划预争达态变组织员专业术论据与从来让学习条规则队纪层总数帮询满"
    "复审积极样标检测验质环线网络统维护费价购运输传递讯沟协调陈张刘杨黄赵吴孙马郑韩冯"
    "邓苏叶卢顾龚钟谭陆贾韦邹闫余并状归档签页图楼筑装缮桥灯补齐启动济义团体参记录县乡"
    "镇庄园厂产职权万亿块几虽语读写听闻视频紧该识别种类续继断离闭间坏压获尽尽构机残气"
    "热独毕异众碍税稳笔范简纠纷细终综编缓缩绩缴罚声举药卫里制复觉观订访许详诚咨贫贴赔"
    "账赶迹较载轻连违远迟选遗边邻医释铁闲随险双杂静响顶顺须领头愿显风飞养点龄盘台台松"
    "爱亲汉湾温湿疗码够谈诉铺坚训误错币拨拟扩摊摆树岁涨灾烟奖叠础祸竞罢罗圣肤艰兰冲览"
    "试词谁诺讲译贝财贯贷贺赖赠军转辆辞游遥适迁酱钉钢键锁链闪闸阳阶隐云顿额饭饮馆骑闹"
    "鱼盐麦党齿龙劳励势厅怀战担挤乐欢杀减涌滥洒烂牵监砖获窝纹纳纸绝纲致缝绳脚脸舱荐虚"
    "志课诸趋践轨辅针销铝阵陕雳韵颁颈颗饲驻驱脏斗鸣"
)
_FOLD_TRADITIONAL = str.maketrans(_TRADITIONAL, _SIMPLIFIED)

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
# "D17 申请办结【不完成】": a bracket with a negation in it says something, unless it is a
# name ("【无锡市水务局】"); dropping it as a signature would file what it denies (R27).
_NEGATION = re.compile("[不没未无别难否]")
_NAME = re.compile(rf"\[(?:{_WHO})\]")
# Nor is a name-shaped tail that denies a command ("同意D17--不同意水务局").
_DENIES = re.compile("(?:不|没有?|未|暂不|不予)(?:同意|批准|通过|完成|办结|办完|延期|收到)")
# Signatures are short; only the tail is searched so long texts stay cheap.
_SIGNATURE_WINDOW = 64


def normalize(text: str) -> str:
    """Return the canonical form of a reply that the grammar is written against.

    NFKC (full-width → half-width), invisible characters dropped, quotes, brackets and
    dashes unified, traditional characters folded to simplified, whitespace collapsed to single spaces, then signatures and edge
    punctuation/emoji stripped until nothing more changes. Letter case is kept (codes
    and English words are matched case-insensitively; bodies keep what was written).
    A message made only of question marks (and other strippable characters) becomes
    "?" so the help request survives.
    """
    s = _drop_invisible(text)
    s = unicodedata.normalize("NFKC", s).translate(_UNIFY).translate(_FOLD_TRADITIONAL)
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
    return s[: signature.start()] if signature and _is_signature(signature[0]) else s


def _strip_start(s: str) -> str:
    start = 0
    while start < len(s) and _is_edge_junk(s[start]):
        start += 1
    s = s[start:]
    signature = _LEADING_SIGNATURE.match(s)
    return s[signature.end() :] if signature and _is_signature(signature[0]) else s


def _is_signature(found: str) -> bool:
    """Whether a signature-shaped tail or head is one: nothing that denies a command, no
    bracketed negation but a name's."""
    if _DENIES.search(found):
        return False
    return not (found.startswith("[") and _NEGATION.search(found)) or bool(_NAME.fullmatch(found))


def _is_edge_junk(ch: str) -> bool:
    if ch.isspace():
        return True
    return ch not in _KEEP_AT_EDGES and unicodedata.category(ch) in _EDGE_CATEGORIES
