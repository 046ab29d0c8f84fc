"""Keyword matching: Aho-Corasick (ahocorasick-rs) against a loop of `in` tests.

Prints, for keyword sets of several sizes, the time to find the first declared
keyword in realistic consumer messages, and the ratio. Run:

    python benchmarks/bench_keywords.py
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.runtime.keywords import KeywordMatcher, NaiveKeywordMatcher  # noqa: E402

WORDS = ["发票", "开票", "退款", "退货", "尺码", "多大", "快递", "发货", "几天到", "优惠", "满减", "赠品",
         "保修", "安装", "颜色", "库存", "有货", "包邮", "运费", "地址"]
MESSAGES = ["在吗", "这个有货吗", "什么时候发货呀", "能开发票吗", "好的谢谢", "尺码怎么选,170穿多大",
            "退款多久到账", "亲,能便宜点吗", "我要改地址", "可以用优惠券吗"]


def keyword_set(n: int, rng: random.Random) -> list[str]:
    """n distinct keywords: the common desk words, then generated two- and three-character ones."""
    base = list(WORDS)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
    while len(base) < n:
        base.append("".join(rng.choice(alphabet) for _ in range(rng.choice((2, 3)))))
    return list(dict.fromkeys(base))[:n]


def time_matcher(matcher, messages: list[str], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for text in messages:
            matcher.first(text)
    return (time.perf_counter() - start) / (rounds * len(messages))


def main() -> None:
    rng = random.Random(1)
    messages = MESSAGES * 10
    print(f"{'keywords':>9} {'loop µs/msg':>12} {'aho-corasick µs/msg':>20} {'loop / AC':>10}")
    for n in (5, 20, 100, 1000, 10000):
        keywords = keyword_set(n, rng)
        naive, ac = NaiveKeywordMatcher(keywords), KeywordMatcher(keywords)
        for text in messages:
            assert naive.first(text) == ac.first(text)
        rounds = max(1, 2000 // n)
        t_naive = min(time_matcher(naive, messages, rounds) for _ in range(3))
        t_ac = min(time_matcher(ac, messages, rounds) for _ in range(3))
        print(f"{n:>9} {t_naive * 1e6:>12.2f} {t_ac * 1e6:>20.2f} {t_naive / t_ac:>10.1f}")


if __name__ == "__main__":
    main()
