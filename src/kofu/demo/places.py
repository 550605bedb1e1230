"""Town names (大字・町名) of the demo municipalities and places elsewhere, for synthetic addresses.

The town names are real names of each municipality (the city hall's town first); the lot numbers the
generator adds are random, so an address is plausible but not a real person's. `chome` marks urban
municipalities whose addresses read 〇丁目〇番〇号 rather than 〇〇番地.
"""

from __future__ import annotations

from dataclasses import dataclass

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def zenkaku(number: int | str) -> str:
    """Full-width digits, as addresses are written on certificates: 123 → １２３."""
    return str(number).translate(_FULL_WIDTH)


@dataclass(frozen=True)
class Place:
    prefecture: str  # 兵庫県
    city: str  # 加東市 / 神戸市中央区 (a ward is part of the city)
    towns: tuple[str, ...]
    chome: bool = False  # 〇丁目〇番〇号 instead of 〇番地

    @property
    def prefix(self) -> str:
        return f"{self.prefecture}{self.city}"


HYOGO = "兵庫県"

# 全国地方公共団体コード (with check digit) → where its residents live.
MUNICIPALITIES: dict[str, tuple[Place, ...]] = {
    "282286": (  # 加東市
        Place(
            HYOGO,
            "加東市",
            (
                "社",
                "梶原",
                "河高",
                "滝野",
                "上中",
                "東古瀬",
                "天神",
                "下滝野",
                "上滝野",
                "多井田",
                "新町",
                "木梨",
                "家原",
                "藤田",
                "穂積",
                "松尾",
                "黒谷",
                "吉井",
                "山国",
                "網引",
                "佐保",
                "窪田",
                "貝原",
                "喜田",
                "秋津",
                "岡本",
                "森",
                "高岡",
                "上三草",
                "下三草",
            ),
        ),
    ),
    "281000": (  # 神戸市 (wards)
        Place(HYOGO, "神戸市中央区", ("加納町", "北長狭通", "中山手通", "元町通", "下山手通"), chome=True),
        Place(HYOGO, "神戸市東灘区", ("御影町", "本山北町", "住吉本町"), chome=True),
        Place(HYOGO, "神戸市灘区", ("六甲台町", "篠原本町", "岩屋北町"), chome=True),
        Place(HYOGO, "神戸市須磨区", ("大田町", "板宿町", "月見山本町"), chome=True),
        Place(HYOGO, "神戸市垂水区", ("東垂水町", "日向", "舞子台"), chome=True),
        Place(HYOGO, "神戸市西区", ("伊川谷町有瀬", "玉津町今津", "学園西町"), chome=False),
        Place(HYOGO, "神戸市北区", ("鈴蘭台北町", "有野町唐櫃", "藤原台中町"), chome=False),
    ),
    "282014": (Place(HYOGO, "姫路市", ("安田", "本町", "白浜町", "網干区新在家", "広畑区正門通", "野里", "御立西")),),
    "282022": (Place(HYOGO, "尼崎市", ("東七松町", "塚口町", "武庫之荘", "立花町", "杭瀬本町", "潮江"), chome=True),),
    "282049": (
        Place(HYOGO, "西宮市", ("六湛寺町", "甲子園口", "今津曙町", "鳴尾町", "甲陽園目神山町", "北口町"), chome=True),
    ),
    "282073": (Place(HYOGO, "伊丹市", ("千僧", "中央", "昆陽", "荻野", "鴻池", "緑ケ丘"), chome=True),),
    "282103": (
        Place(
            HYOGO,
            "加古川市",
            ("加古川町北在家", "平岡町新在家", "尾上町口里", "野口町良野", "別府町新野辺", "神野町西条"),
        ),
    ),
    "282146": (Place(HYOGO, "宝塚市", ("東洋町", "逆瀬川", "小林", "売布", "中山台", "清荒神"), chome=True),),
    "282154": (Place(HYOGO, "三木市", ("上の丸町", "志染町広野", "緑が丘町中", "吉川町大沢", "別所町小林", "大村")),),
    "282171": (Place(HYOGO, "川西市", ("中央町", "小花", "栄町", "多田院", "清和台東", "大和東"), chome=True),),
    "282189": (Place(HYOGO, "小野市", ("王子町", "中町", "本町", "黒川町", "粟生町", "来住町")),),
    "282201": (Place(HYOGO, "加西市", ("北条町横尾", "北条町北条", "網引町", "中野町", "西谷町", "繁昌町")),),
    "282260": (Place(HYOGO, "淡路市", ("生穂", "志筑", "岩屋", "郡家", "佐野", "浦")),),
    "282278": (Place(HYOGO, "宍粟市", ("山崎町中広瀬", "山崎町鹿沢", "一宮町安積", "波賀町上野", "千種町千草")),),
    "282294": (
        Place(
            HYOGO, "たつの市", ("龍野町富永", "龍野町日山", "揖西町小神", "新宮町新宮", "揖保川町山津屋", "御津町釜屋")
        ),
    ),
    "283011": (Place(HYOGO, "川辺郡猪名川町", ("上野", "白金", "伏見台", "松尾台", "若葉", "紫合")),),
    "283827": (Place(HYOGO, "加古郡播磨町", ("東本荘", "南大中", "北本荘", "古宮", "野添", "西野添")),),
    "284645": (Place(HYOGO, "揖保郡太子町", ("鵤", "東南", "佐用岡", "太田", "糸井", "福地")),),
}

# Where people came from or keep their 本籍 when it is not their own municipality.
ELSEWHERE: tuple[Place, ...] = (
    Place("大阪府", "大阪市北区", ("梅田", "天神橋", "中津"), chome=True),
    Place("大阪府", "堺市堺区", ("南瓦町", "大仙町"), chome=False),
    Place("大阪府", "豊中市", ("中桜塚", "曽根東町"), chome=True),
    Place("京都府", "京都市左京区", ("北白川", "田中里ノ内町")),
    Place("岡山県", "岡山市北区", ("大供", "奉還町"), chome=True),
    Place("広島県", "広島市中区", ("国泰寺町", "大手町"), chome=True),
    Place("鳥取県", "鳥取市", ("幸町", "湖山町東"), chome=True),
    Place("徳島県", "徳島市", ("幸町", "南末広町"), chome=True),
    Place("香川県", "高松市", ("番町", "栗林町"), chome=True),
    Place("東京都", "世田谷区", ("世田谷", "太子堂"), chome=True),
    Place("愛知県", "名古屋市中区", ("三の丸", "栄"), chome=True),
    Place("福岡県", "福岡市中央区", ("天神", "大名"), chome=True),
    Place("鹿児島県", "鹿児島市", ("山下町", "鴨池"), chome=True),
    Place(HYOGO, "西脇市", ("郷瀬町", "野村町")),
    Place(HYOGO, "三田市", ("三輪", "けやき台"), chome=True),
    Place(HYOGO, "丹波篠山市", ("北新町", "東吹")),
    Place(HYOGO, "明石市", ("中崎", "大久保町大窪"), chome=True),
    Place(HYOGO, "多可郡多可町", ("中区中村町", "八千代区中野間")),
    Place(HYOGO, "西脇市", ("上比延町", "和田町")),
    Place(HYOGO, "姫路市", ("飾磨区清水", "大津区天満")),
    Place(HYOGO, "小野市", ("王子町", "市場町")),
    Place(HYOGO, "三木市", ("志染町御坂", "細川町垂穂")),
)
