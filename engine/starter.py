"""`kefu init`: a commented starter policy for a platform, and a scenario file it passes.

The starter is written from the platform file, not from a template per platform: it uses
only the features the platform allows (page or group routing, offline routing or the
offline pool, the automatic replies), caps inside the platform's `max_sessions` limit,
and names an editor with a role the platform's `restrict` rules accept. So a new
platform file gets a starter too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import ir

SHOP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
AGENTS = ("agent1", "agent2", "agent3")
WELCOME = "亲,欢迎光临!有什么可以帮您?"
OFFLINE = "客服已下班,上班后第一时间回复您"
KEYWORD = ("发票", "支持电子发票,下单时填写抬头即可")


@dataclass
class Starter:
    """The two files `kefu init` writes."""

    policy: str
    scenario: str


def _cap(platform: ir.Platform) -> int:
    """A reception cap inside the platform's limit: 10 when allowed."""
    limit = platform.limit("max_sessions")
    cap = 10
    if limit is not None:
        if limit.maximum is not None:
            cap = min(cap, limit.maximum)
        if limit.minimum is not None:
            cap = max(cap, limit.minimum)
    return cap


def _editor_role(platform: ir.Platform, used: set[str]) -> str | None:
    """A role every `restrict` rule on a used feature accepts (None: no rule applies, or no role fits all)."""
    allowed: set[str] | None = None
    for rule in platform.restrictions:
        if any(f.name in used for f in rule.features):
            roles = {r.name for r in rule.roles}
            allowed = roles if allowed is None else allowed & roles
    if not allowed:
        return None
    return next((r for r in ("admin", "main", "cs_admin", "agent") if r in allowed), sorted(allowed)[0])


def _offline_role(platform: ir.Platform) -> str | None:
    limit = platform.limit("offline_target_roles")
    if limit is None or not limit.values:
        return None
    roles = [v.name for v in limit.values]
    return "cs_admin" if "cs_admin" in roles else roles[0]


def starter(platform: ir.Platform, shop: str) -> Starter:
    """The starter policy and scenario file for a shop on a platform."""
    allows = {f.name.name for f in platform.features}
    pages = [p.name for p in platform.pages]
    cap = _cap(platform)
    label = f" ({platform.label})" if platform.label else ""
    lines = [
        f"# {shop} on {platform.name}{label}: a starter policy written by `kefu init`.",
        "# Edit it, then: kefu check  ·  kefu fmt  ·  kefu test  ·  kefu replay --events LOG",
        "# The language: docs/language.md; this platform's rules: its platform file.",
        f'shop "{shop}" on {platform.name}',
        "",
        "# Working hours: outside them consumers get the offline reply (if the platform has one).",
        "hours 08:00-23:00",
        "",
        f"# Agents (子账号) in groups (客服组), with a reception cap (接待上限) each: here {cap}.",
        f'group presale "售前" {{ agents {AGENTS[0]}, {AGENTS[1]}; max_sessions {cap} }}',
        f'group aftersale "售后" {{ agents {AGENTS[2]}; max_sessions {cap} }}',
    ]
    used: set[str] = set()
    replies: list[str] = []
    if "welcome" in allows:
        used.add("welcome")
        replies += ["# The opening message (开场白) on a consumer's new session.", f'reply welcome "{WELCOME}"']
    if "keyword_reply" in allows:
        used.add("keyword_reply")
        replies += ["# A reply to messages that contain a keyword.", f'reply keyword "{KEYWORD[0]}" -> "{KEYWORD[1]}"']
    if "offline_reply" in allows:
        used.add("offline_reply")
        replies += ["# Sent when nobody is at work (下班).", f'reply offline -> "{OFFLINE}"']
    routing: list[str] = []
    after_sale = [p for p in ("refund_detail", "logistics_complaint", "order_detail") if p in pages]
    if "page_routing" in allows and after_sale:
        used.add("page_routing")
        routing = ["# Page routing (页面分流): after-sale pages to after-sale, everyone else to pre-sale.",
                   "route {", f"  page {', '.join(after_sale)} -> aftersale", "  default -> presale", "}"]
    elif "group_routing" in allows:
        used.add("group_routing")
        routing = ["# Group routing (客服组分流): both groups share the consumers.",
                   "route { scope groups presale, aftersale }"]
    offline: list[str] = []
    offline_role = _offline_role(platform)
    if "offline_routing" in allows:
        used.add("offline_routing")
        offline = ["# Offline routing (离线分流): when every agent is offline, consumers go to one account.",
                   f"offline -> {AGENTS[2]}"]
    elif "offline_pool" in allows:
        used.add("offline_pool")
        offline = ["# Messages left while every agent is offline wait in the offline pool.", "offline pool keep 30d"]
    editor = _editor_role(platform, used)
    accounts: list[str] = []
    if editor is not None:
        accounts += [f"agent {AGENTS[0]} {{ role {editor} }}", f"editor {AGENTS[0]}  # who applies this policy"]
    if offline and offline_role is not None and "offline_routing" in used:
        accounts.append(f"agent {AGENTS[2]} {{ role {offline_role} }}")
    if accounts:
        lines += ["", "# Roles (主账号, 管理员, 客服管理员): some settings only these accounts may edit.", *accounts]
    for block in (routing, offline):
        if block:
            lines += ["", *block]
    lines += ["", "# Assignment: the platform's default applies; to choose, for example:",
              "# assign by least_loaded, ties round_robin"]
    if replies:
        lines += ["", *replies]
    policy = "\n".join(lines) + "\n"
    return Starter(policy=policy, scenario=_scenario(shop, "welcome" in used))


def _scenario(shop: str, welcome: bool) -> str:
    expect = [
        "    expect:",
        "      decisions:",
        "        only: [assign]",
        "        items:",
        f"          - {{consumer: c1, agent: {AGENTS[0]}}}",
    ]
    if welcome:
        expect.append(f"      replies: [\"{WELCOME}\"]")
    return "\n".join([
        f"# Scenarios for {shop}.kefu: run them with `kefu test {shop}.test.yaml`; add a case for",
        "# each rule you add, with what the platform's rules say must happen (docs/testing.md).",
        f"policy: {shop}.kefu",
        "cases:",
        f"  - name: a new consumer goes to the only agent online{' and gets the welcome' if welcome else ''}",
        "    events:",
        f'      - {{t: "08:30:00", type: agent_status, agent: {AGENTS[0]}, status: online}}',
        '      - {t: "09:00:00", type: message, sender: consumer, consumer: c1, text: 在吗}',
        *expect,
    ]) + "\n"
