"""The checker: a list of named stages, each `policy → diagnostics`."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from . import ir, registry
from .diagnostics import Diagnostic, error, warning
from .names import by_label, did_you_mean, plural


@dataclass(frozen=True)
class Stage:
    """A named check stage."""

    name: str
    run: Callable[[ir.Policy], Iterable[Diagnostic]]


# Roles by their Chinese names (客服管理员 → cs_admin), for the hint of a role written in Chinese.
ROLE_LABELS = {role.label: name for name, role in registry.ROLES.items() if role.label}

# Characters a set of known names may spend on "did you mean" suggestions in one check (each lookup
# costs the length of every known name plus, per name, the unknown one's). Past it, the hint lists
# known names instead: a policy naming thousands of unknown agents among thousands of known ones
# would otherwise compare each with each, for minutes.
SUGGESTION_BUDGET = 200_000


class _Known:
    """The known names of one kind, for `unknown …` diagnostics: a hint for each, within a budget."""

    def __init__(self, what: str, known: Iterable[str], labels: Mapping[str, str] | None = None):
        self.what = what
        self.names = list(known)
        self.labels = labels or {}   # a label (a Chinese name) → the name it labels
        self.size = sum(map(len, self.names))
        self.budget = SUGGESTION_BUDGET
        self._listing: str | None = None

    def listing(self) -> str:
        """The first known names, sorted (worked out once)."""
        if self._listing is None:
            self._listing = ", ".join(heapq.nsmallest(12, self.names))
        return self._listing

    def suggest(self, name: str) -> str | None:
        """A 'did you mean …?' for name, while the budget lasts."""
        cost = self.size + len(self.names) * len(name)
        if cost > self.budget:
            return None
        self.budget -= cost
        return did_you_mean(name, self.names) or by_label(name, self.labels)

    def unknown(self, code: str, ref: ir.Ref, listing: bool = True) -> Diagnostic:
        """The diagnostic for a name that is not among these, with a suggestion or the known names as hint."""
        hint = self.suggest(ref.name)
        if hint is None and listing and self.names:
            hint = f"known {plural(self.what)}: {self.listing()}"
        return error(code, f"unknown {self.what} {ref.name!r}", ref.span, hint)


def _unknown(code: str, what: str, ref: ir.Ref, known: Iterable[str], listing: bool = True,
             labels: Mapping[str, str] | None = None) -> Diagnostic:
    """`unknown WHAT 'name'`, with a suggestion or the known names as hint (for a set of names written
    once; the shop's own names, which may be thousands, go through one _Known per check)."""
    return _Known(what, known, labels).unknown(code, ref, listing)


# ---- platform files ----------------------------------------------------------

def check_platform(platform: ir.Platform) -> list[Diagnostic]:
    """Checks of a platform file on its own."""
    diags: list[Diagnostic] = []
    diags += _duplicates("metric", [(m.name, m.span) for m in platform.metrics])
    diags += _duplicates("limit", [(lim.name.name, lim.name.span) for lim in platform.limits])
    diags += _duplicates("page", [(p.name, p.span) for p in platform.pages])
    declared = list(dict.fromkeys(s.name for s in platform.senders))
    diags += _consumer_declared(platform)
    diags += _check_generate(platform, declared)
    senders = set(declared) | set(registry.AUTO_REPLY_KINDS) | {"auto_reply"}
    for metric in platform.metrics:
        diags += _check_metric(metric, senders, declared)
    for lim in platform.limits:
        if lim.name.name not in registry.LIMITS:
            diags.append(_unknown("E105", "limit", lim.name, registry.LIMITS))
        if lim.name.name == "offline_target_roles":
            diags += [_unknown("E104", "role", r, registry.ROLES, labels=ROLE_LABELS)
                      for r in lim.values if r.name not in registry.ROLES]
    for feat in platform.features:
        if feat.name.name not in registry.FEATURES:
            diags.append(_unknown("E105", "feature", feat.name, registry.FEATURES))
    for ref in platform.fixed:
        if ref.name not in registry.SETTINGS:
            diags.append(_unknown("E105", "setting", ref, registry.SETTINGS))
    for rule in platform.restrictions:
        diags += [_unknown("E105", "feature", f, registry.FEATURES) for f in rule.features if f.name not in registry.FEATURES]
        diags += [_unknown("E104", "role", r, registry.ROLES, labels=ROLE_LABELS)
                  for r in rule.roles if r.name not in registry.ROLES]
    diags += _check_settings(platform.defaults, platform, [])
    return diags


def _consumer_declared(platform: ir.Platform) -> Iterator[Diagnostic]:
    """E034: `consumer` in `senders`, the line of the shop's side; E038: no `agent` among them (a log's agents
    write as `agent`: on a platform without it, every agent message would be rejected)."""
    for sender in platform.senders:
        if sender.name == "consumer":
            yield error("E034", "`consumer` is listed in `senders`: the consumer is a sender on every platform", sender.span,
                        "remove `consumer` from `senders`; list the shop's side (agent, robot, …)")
    if platform.senders and not any(s.name == "agent" for s in platform.senders):
        first = platform.senders[0].span
        yield error("E038", "`senders` does not list `agent`: a log's agent messages would all be rejected", first,
                    "add `agent` (the human agents) to `senders`")


def _check_generate(platform: ir.Platform, declared: list[str]) -> Iterator[Diagnostic]:
    """The `generate` block: known rate names (E035), at most 100% (E036), senders the platform declares (E037)."""
    yield from _duplicates("generate rate", [(r.name.name, r.name.span) for r in platform.generate])
    for rate in platform.generate:
        name = rate.name.name
        if name not in registry.GENERATE_RATES:
            yield _unknown("E035", "generate rate", rate.name, registry.GENERATE_RATES)
        elif rate.value > 1:
            yield error("E036", f"generate rate {name!r} is {rate.value * 100:g}%, more than 100%", rate.span,
                        "a rate is a share of consumers or conversations: write 0% to 100%")
        elif name in registry.GENERATED_SENDERS and name not in declared and rate.value > 0:
            yield error("E037", f"generate rate {name!r} makes {name} messages, but the platform has no sender {name!r}",
                        rate.span, f"add `{name}` to the platform's `senders`, or write `{name} 0%`")


def _check_metric(metric: ir.Metric, senders: set[str], declared: list[str]) -> Iterator[Diagnostic]:
    if metric.unit is None or metric.deadline is None:
        missing = "unit" if metric.unit is None else "deadline"
        yield error("E120", f"metric {metric.name!r} has no {missing}", metric.span,
                    f"add `{missing} …` to the metric block")
    if metric.unit and metric.unit.name not in registry.METRIC_UNITS:
        yield _unknown("E105", "metric unit", metric.unit, registry.METRIC_UNITS)
    if metric.clock_start and metric.clock_start.name not in registry.CLOCK_STARTS:
        yield _unknown("E105", "clock start", metric.clock_start, registry.CLOCK_STARTS)
    if metric.evaluated_on and metric.evaluated_on.name not in registry.METRIC_EVALUATION:
        yield _unknown("E105", "evaluation day", metric.evaluated_on, registry.METRIC_EVALUATION)
    for ref in metric.effective:
        if ref.name not in senders:
            yield _unknown("E105", "sender", ref, senders)
    for ref in metric.counts:
        if ref.name not in registry.METRIC_COUNTS:
            yield _unknown("E105", "counting rule", ref, registry.METRIC_COUNTS)
    yield from _metric_combinations(metric)
    if metric.penalty:
        for cond in metric.penalty.when:
            if cond.variable.name not in registry.CONDITION_VARIABLES:
                yield _unknown("E105", "metric figure", cond.variable, registry.CONDITION_VARIABLES)
    if not metric.effective:
        if declared:
            hint = f"add `effective {', '.join(declared[:12])}` (or those of the platform's senders that count)"
        else:
            hint = ("declare the senders first (`senders agent, robot`), then add `effective …` with those that count "
                    "(automatic-reply kinds such as `welcome` need no declaration)")
        yield error("E120", f"metric {metric.name!r} names no effective sender", metric.span, hint)


def _metric_combinations(metric: ir.Metric) -> Iterator[Diagnostic]:
    """Rules that only mean something with another (E140-E141): read from the registry behaviours."""
    rules = {ref.name: ref for ref in metric.counts if ref.name in registry.METRIC_COUNTS}
    flags = registry.Counting()
    for name in rules:
        flags = registry.METRIC_COUNTS.behaviour(name)(flags)
    if flags.assistant_ineffective and not flags.assistant_account:
        ref = rules["assistant_unanswered_ineffective"]
        yield error("E140", "`assistant_unanswered_ineffective` needs `assistant_as_account`", ref.span,
                    "the assistant's answer is counted in the total through its own reception: "
                    "add `assistant_as_account` to the `count` line")
    start, unit = metric.clock_start, metric.unit
    if (start and unit and start.name in registry.CLOCK_STARTS and unit.name in registry.METRIC_UNITS
            and registry.CLOCK_STARTS.behaviour(start.name).first_only
            and not registry.METRIC_UNITS.behaviour(unit.name).per_consumer_day):
        yield error("E141", f"`clock starts at {start.name}` needs `unit consumer_day`", start.span,
                    "with `unit question` every question is timed from its own first message: "
                    "write `clock starts at question`, or `unit consumer_day`")


def _duplicates(what: str, named: list[tuple[str, ir.Span | None]]) -> Iterator[Diagnostic]:
    first: dict[str, ir.Span | None] = {}
    for name, span in named:
        if name in first:
            notes = (("first declared here", first[name]),) if first[name] else ()
            yield error("E110", f"{what} {name!r} is declared twice", span, f"rename or remove one {what}", notes=notes)
        else:
            first[name] = span


def _check_settings(settings: ir.Settings, platform: ir.Platform, group_names: list[str]) -> Iterator[Diagnostic]:
    if settings.assign:
        if settings.assign.strategy.name not in registry.STRATEGIES:
            yield _unknown("E103", "assignment strategy", settings.assign.strategy, registry.STRATEGIES)
        if settings.assign.ties and settings.assign.ties.name not in registry.TIE_BREAKS:
            yield _unknown("E103", "tie-break", settings.assign.ties, registry.TIE_BREAKS)
    if settings.repeat_entry:
        for ref in settings.repeat_entry.fallback:
            if ref.name not in registry.FALLBACKS:
                yield _unknown("E105", "fallback", ref, registry.FALLBACKS)
    if settings.queue:
        if settings.queue.order and settings.queue.order.name not in registry.QUEUE_ORDERS:
            yield _unknown("E105", "queue order", settings.queue.order, registry.QUEUE_ORDERS)
        if settings.queue.estimate_from is not None and settings.queue.estimate_from < 1:
            yield error("E130", "a wait estimate needs at least 1 handled consumer", settings.queue.span,
                        "write `estimate wait from last 20 handled`")
    if settings.timezone:
        yield from _check_timezone(settings.timezone)


def _check_timezone(ref: ir.Ref) -> Iterator[Diagnostic]:
    from zoneinfo import ZoneInfo, available_timezones

    try:
        if "/" in ref.name and ".." in ref.name:
            raise ValueError
        ZoneInfo(ref.name)
    except Exception:
        yield error("E041", f"unknown time zone {ref.name!r}", ref.span,
                    did_you_mean(ref.name, available_timezones()) or "use an IANA name such as Asia/Shanghai")


# ---- shop policies -----------------------------------------------------------

def stage_names(policy: ir.Policy) -> Iterator[Diagnostic]:
    """Unknown and duplicate names: agents, groups, pages, roles, statuses, actions."""
    shop, platform = policy.shop, policy.platform
    yield from _duplicates("agent", [(a.name, a.span) for a in shop.agents])
    yield from _duplicates("group", [(g.name, g.span) for g in shop.groups])
    agents = shop.agent_names()
    groups = {g.name for g in shop.groups}
    pages = {p.name for p in platform.pages}
    for agent in shop.agents:
        if agent.role and agent.role.name not in registry.ROLES:
            yield _unknown("E104", "role", agent.role, registry.ROLES, labels=ROLE_LABELS)
    seen_in: dict[str, tuple[str, ir.Span | None]] = {}
    for group in shop.groups:
        for ref in group.agents:
            if ref.name in seen_in and seen_in[ref.name][0] != group.name:
                yield error("E112", f"agent {ref.name!r} is in two groups ({seen_in[ref.name][0]!r} and {group.name!r})",
                            ref.span, "an agent belongs to one group; remove it from one of them",
                            notes=(("first listed here", seen_in[ref.name][1]),) if seen_in[ref.name][1] else ())
            seen_in.setdefault(ref.name, (group.name, ref.span))
    targets = agents | groups
    # the shop's names may be thousands: one _Known each, so their suggestions share one budget
    page_labels = {p.label: p.name for p in reversed(platform.pages) if p.label}
    known_pages, known_targets = _Known("page", pages, page_labels), _Known("agent or group", targets)
    known_groups, known_agents = _Known("group", groups), _Known("agent", agents)
    if shop.routing:
        for route in shop.routing.pages:
            for ref in route.pages:
                if ref.name not in pages:
                    yield known_pages.unknown("E102", ref)
            for ref in route.targets:
                if ref.name not in targets:
                    yield known_targets.unknown("E100", ref)
        for ref in shop.routing.default or []:
            if ref.name not in targets:
                yield known_targets.unknown("E100", ref)
    for scope in _scopes(policy):
        for ref in scope.groups:
            if ref.name not in groups:
                yield known_groups.unknown("E101", ref)
    if shop.offline_route:
        for ref in shop.offline_route.targets:
            if ref.name not in agents:
                yield known_agents.unknown("E100", ref)
    if shop.editor and shop.editor.name not in agents:
        yield known_agents.unknown("E100", shop.editor)
    for reply in shop.replies:
        if isinstance(reply, ir.StatusReply) and reply.status.name not in registry.REPLY_STATUSES:
            yield _status_reply(reply.status)
        if isinstance(reply, ir.MenuReply):
            for item in reply.items:
                if item.action.name not in registry.MENU_ACTIONS:
                    yield _unknown("E105", "menu action", item.action, registry.MENU_ACTIONS)
    yield from _check_settings(shop.settings, platform, list(groups))


STATUS_REPLY_HINT = ("only `busy` has a status auto reply (`reply status busy -> …`); "
                     "for the offline case write `reply offline -> …`")


def _status_reply(ref: ir.Ref) -> Diagnostic:
    """E105 for `reply status X` with X other than busy: the replay sends status replies only while an agent is busy."""
    if ref.name in registry.STATUSES:
        return error("E105", f"agent status {ref.name!r} has no status auto reply", ref.span, STATUS_REPLY_HINT)
    return error("E105", f"unknown agent status {ref.name!r}", ref.span,
                 did_you_mean(ref.name, registry.REPLY_STATUSES) or STATUS_REPLY_HINT)


def _scopes(policy: ir.Policy) -> list[ir.Scope]:
    shop = policy.shop
    scopes = [shop.routing.scope] if shop.routing and shop.routing.scope else []
    if shop.settings.queue and shop.settings.queue.scope:
        scopes.append(shop.settings.queue.scope)
    return scopes


def features_used(shop: ir.Shop) -> Iterator[tuple[str, ir.Span | None]]:
    """Every platform feature a shop policy uses, with where it uses it."""
    if shop.routing:
        if shop.routing.pages:
            yield "page_routing", shop.routing.pages[0].span
        if shop.routing.scope and shop.routing.scope.kind == "groups":
            yield "group_routing", shop.routing.scope.span
    if shop.offline_route:
        yield "offline_routing", shop.offline_route.span
    settings = shop.settings
    if settings.offline_pool:
        yield "offline_pool", settings.offline_pool.span
    if settings.repeat_entry:
        yield "repeat_entry", settings.repeat_entry.span
    if settings.queue:
        yield "queue", settings.queue.span
        if settings.queue.order:
            yield "queue_order", settings.queue.order.span
        if settings.queue.estimate_from is not None:
            yield "estimate_wait", settings.queue.span
    if settings.session_end:
        yield "session_end", settings.session_end.span
    for reply in shop.replies:
        yield registry.REPLY_FEATURES[reply.kind], reply.span
        if isinstance(reply, ir.WelcomeReply) and reply.faq:
            yield "faq", reply.faq[0].span
    for phrase in shop.phrases:
        yield "quick_phrases", phrase.span


def stage_platform_features(policy: ir.Policy) -> Iterator[Diagnostic]:
    """A shop may use only what its platform offers and may not change what it fixes."""
    shop, platform = policy.shop, policy.platform
    pname = platform.label or platform.name
    offered = {f.name.name for f in platform.features}
    for feature, span in features_used(shop):
        if feature not in offered:
            yield error("E300", f"{platform.name} does not offer {feature} ({registry.FEATURES.text(feature)})", span,
                        f"{pname} shops cannot configure this; remove it or pick the platform that offers it")
    settings = shop.settings
    fixed = {ref.name for ref in platform.fixed}
    for key in ir.Settings.model_fields:
        value = getattr(settings, key)
        if value is not None and key in fixed:
            default = getattr(platform.defaults, key)
            where = (("the platform sets it here", default.span),) if default is not None and getattr(default, "span", None) else ()
            yield error("E301", f"{platform.name} fixes {registry.SETTINGS.text(key)} ({key}); a shop may not change it",
                        getattr(value, "span", None), "remove this setting: the platform's default applies", notes=where)


def _limit_range(platform: ir.Platform, name: str) -> tuple[int | None, int | None, ir.Limit | None]:
    lim = platform.limit(name)
    return (lim.minimum, lim.maximum, lim) if lim else (None, None, None)


def _over(platform: ir.Platform, name: str, count: int) -> int | None:
    _, hi, _ = _limit_range(platform, name)
    return hi if hi is not None and count > hi else None


def stage_limits(policy: ir.Policy) -> Iterator[Diagnostic]:
    """Every limit the platform puts on shop settings."""
    shop, platform = policy.shop, policy.platform
    pname = platform.name
    yield from _caps(platform, [*shop.agents, *shop.groups])
    _, chars, _ = _limit_range(platform, "reply_chars")
    for reply in shop.replies:
        if isinstance(reply, ir.WelcomeReply):
            yield from _faq_limits(platform, reply)
        for text in _reply_texts(reply):
            if chars is not None and len(text) > chars:
                yield error("E209", f"reply has {len(text)} characters; {pname} allows at most {chars}", reply.span,
                            "shorten the reply")
            if not text.strip():
                yield error("E210", "reply text is empty", reply.span, "write the text the consumer should see")
    products = [r for r in shop.replies if isinstance(r, ir.ProductReply)]
    limit = _over(platform, "product_replies", len(products))
    if limit is not None:
        yield error("E205", f"{len(products)} product-card replies; {pname} allows at most {limit} per shop",
                    products[limit].span, "merge replies or remove some")
    _, per_reply, _ = _limit_range(platform, "products_per_reply")
    for reply in products:
        if per_reply is not None and len(reply.products) > per_reply:
            yield error("E206", f"reply lists {len(reply.products)} products; {pname} allows at most {per_reply}",
                        reply.products[per_reply].span, "split the products over several replies")
    if shop.offline_route:
        yield from _offline_target_limits(policy, shop.offline_route)


def _caps(platform: ir.Platform, owners: list) -> Iterator[Diagnostic]:
    """E200 for each `max_sessions` (of an agent, a group or a RepeatedCap) outside the platform's range."""
    lo, hi, _ = _limit_range(platform, "max_sessions")
    for owner in owners:
        if owner.max_sessions is None:
            continue
        if owner.max_sessions < 1 or (lo is not None and owner.max_sessions < lo) or (hi is not None and owner.max_sessions > hi):
            bounds = f"{lo if lo is not None else 1}..{hi}" if hi is not None else f"at least {lo or 1}"
            yield error("E200", f"max_sessions {owner.max_sessions} is outside {platform.name}'s range {bounds}",
                        owner.max_sessions_span or owner.span, f"set a reception cap within {bounds}")


def check_repeated_caps(policy: ir.Policy, caps: list) -> list[Diagnostic]:
    """E200 for a second `max_sessions` in one block: reported as E111, but its value is not hidden."""
    return list(_caps(policy.platform, caps))


def _reply_texts(reply) -> list[str]:
    if isinstance(reply, ir.MenuReply):
        return []
    return [reply.text]


def _faq_limits(platform: ir.Platform, reply: ir.WelcomeReply) -> Iterator[Diagnostic]:
    pname = platform.name
    _, qmax, _ = _limit_range(platform, "faq_question_chars")
    _, amax, _ = _limit_range(platform, "faq_answer_chars")
    for item in reply.faq:
        if qmax is not None and len(item.question) > qmax:
            yield error("E201", f"FAQ question has {len(item.question)} characters; {pname} allows at most {qmax}",
                        item.span, "shorten the question")
        if amax is not None and len(item.answer) > amax:
            yield error("E202", f"FAQ answer has {len(item.answer)} characters; {pname} allows at most {amax}",
                        item.span, "shorten the answer")
    limit = _over(platform, "faq_items", len(reply.faq))
    if limit is not None:
        yield error("E203", f"{len(reply.faq)} FAQ questions; {pname} allows at most {limit}", reply.faq[limit].span,
                    "remove questions")
    enabled = [item for item in reply.faq if item.enabled]
    limit = _over(platform, "faq_enabled", len(enabled))
    if limit is not None:
        yield error("E204", f"{len(enabled)} FAQ questions enabled; {pname} allows at most {limit}",
                    enabled[limit].span, "mark the extra questions `disabled`")


def _offline_target_limits(policy: ir.Policy, route: ir.OfflineRoute) -> Iterator[Diagnostic]:
    shop, platform = policy.shop, policy.platform
    targets = route.targets
    _, most, _ = _limit_range(platform, "offline_targets")
    if most is not None and len(targets) > most:
        yield error("E207", f"{len(targets)} offline targets; {platform.name} allows {most}", targets[most].span,
                    "choose one offline account")
    roles_limit = platform.limit("offline_target_roles")
    if roles_limit is None:
        return
    allowed = {r.name for r in roles_limit.values}
    declared: dict[str, ir.Agent] = {}
    for a in shop.agents:
        declared.setdefault(a.name, a)  # a second declaration is reported as E110
    known = shop.agent_names()
    for ref in targets:
        if ref.name not in known:
            continue  # already reported as an unknown agent
        agent = declared.get(ref.name)
        role = agent.role.name if agent and agent.role else "agent"
        if role not in registry.ROLES:
            continue  # already reported as an unknown role
        if role not in allowed:
            yield error("E208", f"offline target {ref.name!r} has role {role!r}; it must be {' or '.join(sorted(allowed))}",
                        ref.span, f"give the account a role: `agent {ref.name} role {sorted(allowed)[0]}`")


def stage_contradictions(policy: ir.Policy) -> Iterator[Diagnostic]:
    """Settings that contradict each other."""
    shop = policy.shop
    if shop.routing:
        seen: dict[str, ir.Span | None] = {}
        for route in shop.routing.pages:
            for ref in route.pages:
                if ref.name in seen:
                    yield error("E400", f"page {ref.name!r} is routed twice", ref.span, "route each page once",
                                notes=(("first routed here", seen[ref.name]),) if seen[ref.name] else ())
                seen.setdefault(ref.name, ref.span)
    yield from _repeated_triggers(shop)
    singles = Counter(r.kind for r in shop.replies if r.kind in ("welcome", "first_message", "order_card", "offline", "menu"))
    for kind, count in singles.items():
        if count > 1:
            second = [r for r in shop.replies if r.kind == kind][1]
            yield error("E407", f"more than one `{kind}` reply", second.span, "keep one; the second would never be sent")
    statuses: dict[str, ir.Span | None] = {}
    for reply in shop.replies:
        if isinstance(reply, ir.StatusReply) and reply.status.name in registry.REPLY_STATUSES:  # others: E105
            if reply.status.name in statuses:
                yield error("E407", f"two replies for status {reply.status.name!r}", reply.span, "keep one")
            statuses.setdefault(reply.status.name, reply.span)
    yield from _overlapping_hours(shop)
    yield from _clashing_holidays(shop.holidays)
    settings = policy.effective
    if settings.repeat_entry and settings.repeat_entry.within == 0 and settings.repeat_entry.fallback:
        yield warning("W406", "repeat-entry window is 0 (every return queues again), so the fallback is never used",
                      settings.repeat_entry.span, "drop the `else …` part or set a window")
    faq_questions: dict[str, ir.Span | None] = {}
    for reply in shop.replies:
        if isinstance(reply, ir.WelcomeReply):
            for item in reply.faq:
                if item.question in faq_questions:
                    yield error("E401", f"FAQ question {item.question!r} appears twice", item.span, "remove one")
                faq_questions.setdefault(item.question, item.span)


def _repeated_triggers(shop: ir.Shop) -> Iterator[Diagnostic]:
    first: dict[tuple[str, str], ir.Span | None] = {}
    for reply in shop.replies:
        if isinstance(reply, (ir.KeywordReply, ir.ClosingReply)):
            words = reply.keywords if isinstance(reply, ir.KeywordReply) else reply.phrases
            for word in words:
                key = ("text", word)
                if key in first:
                    yield error("E401", f"{word!r} triggers two replies", reply.span,
                                "a phrase may trigger one reply; remove it from one list",
                                notes=(("first used here", first[key]),) if first[key] else ())
                first.setdefault(key, reply.span)
        elif isinstance(reply, ir.ProductReply):
            for ref in reply.products:
                key = ("product", ref.name)
                if key in first:
                    yield error("E405", f"product {ref.name!r} has two card replies", ref.span,
                                "list each product in one reply",
                                notes=(("first listed here", first[key]),) if first[key] else ())
                first.setdefault(key, ref.span)


_BLOCK = 40   # minutes: a day is 36 blocks


def _overlapping_hours(shop: ir.Shop) -> Iterator[Diagnostic]:
    """W402 for a range that overlaps an earlier range of the same day (noting the first such), once per range.

    A range over midnight also covers the start of the next day (its tail): in the
    next weekday's list when that day has rules of its own, else in the every-day list.
    Linear in the number of ranges: each day keeps, per minute, the first range
    that covers it, and each minute is claimed once (`free` skips claimed ones).
    The first range of each block of _BLOCK minutes is kept too, so that finding
    the first range under a long range looks at a few dozen entries, not 1,440.
    Empty or inverted ranges (already reported) overlap nothing.
    """
    seen: list[ir.ClockRange] = []
    unclaimed = 1 << 62
    days: dict[object, tuple[list[int], list[int], list[int]]] = {}
    named = {day for rule in shop.hours for day in rule.days or ()}
    for rule in shop.hours:
        for rng in rule.ranges:
            if not 0 <= rng.start < rng.end < rng.start + 1440:
                continue
            reported = False
            for day, start, end in _day_parts(rng, rule.days, named):
                owner, free, blocks = days.get(day) or days.setdefault(
                    day, ([unclaimed] * 1440, list(range(1441)), [unclaimed] * (1440 // _BLOCK)))
                lo, hi = -(-start // _BLOCK), end // _BLOCK   # the whole blocks in the range
                if lo < hi:
                    first = min(owner[start:lo * _BLOCK] + blocks[lo:hi] + owner[hi * _BLOCK:end])
                else:
                    first = min(owner[start:end])
                if first != unclaimed and not reported:
                    reported = True
                    other = seen[first].span
                    yield warning("W402", "working hours overlap", rng.span, "merge the two ranges",
                                  notes=(("overlaps this range", other),) if other else ())
                minute = _next_free(free, start)
                while minute < end:
                    owner[minute] = len(seen)
                    if blocks[minute // _BLOCK] == unclaimed:   # ranges come in order: the first claim is the least
                        blocks[minute // _BLOCK] = len(seen)
                    free[minute] = minute + 1
                    minute = _next_free(free, minute + 1)
            seen.append(rng)


def _clashing_holidays(holidays: list[ir.Holiday]) -> Iterator[Diagnostic]:
    """E408 for a holiday whose dates another holiday gives other hours; W407 when it gives the same hours.

    Each holiday is compared with the earlier-starting holidays (in source order on the same start
    date) that reach furthest: per distinct hours, only the one ending last matters, and the two
    ending last with different hours are enough to find a disagreement. O(n log n).
    """
    order = sorted(range(len(holidays)), key=lambda i: (holidays[i].start, i))
    furthest: list[tuple[ir.Holiday, tuple]] = []   # up to two (holiday, hours): the latest ends, different hours
    for i in order:
        holiday = holidays[i]
        hours = tuple(sorted((r.start, r.end) for r in holiday.ranges))
        clash = next((h for h, other in furthest if other != hours and h.end >= holiday.start), None)
        same = next((h for h, other in furthest if other == hours and h.end >= holiday.start), None)
        if clash is not None:
            day = max(clash.start, holiday.start)
            yield error("E408", f"two holidays give {day.isoformat()} different hours", holiday.span,
                        "a date has one set of hours: change the dates of one holiday, or give both the same hours",
                        notes=(("the other holiday", clash.span),) if clash.span else ())
        elif same is not None:
            day = max(same.start, holiday.start)
            yield warning("W407", f"holiday {day.isoformat()} is given twice", holiday.span,
                          "remove the repeated dates from one of the two holidays",
                          notes=(("first given here", same.span),) if same.span else ())
        furthest = _furthest_two(furthest, holiday, hours)


def _furthest_two(furthest: list[tuple[ir.Holiday, tuple]], holiday: ir.Holiday, hours: tuple) -> list[tuple[ir.Holiday, tuple]]:
    """The (holiday, hours) ending last, and the one ending last with other hours, holiday added."""
    candidates = sorted(furthest + [(holiday, hours)], key=lambda pair: pair[0].end, reverse=True)
    best = [candidates[0]]
    other = next((pair for pair in candidates[1:] if pair[1] != best[0][1]), None)
    return best + [other] if other else best


def _day_parts(rng: ir.ClockRange, days: list[int] | None, named: set[int]) -> Iterator[tuple[object, int, int]]:
    """(day list, start, end) of each day a range of a rule covers: its own days ("all" for every day), and
    for a range over midnight the next days' lists, from 00:00 to its end."""
    own: list[object] = list(days) if days is not None else ["all"]
    for day in own:
        yield day, rng.start, min(rng.end, 1440)
    if rng.end <= 1440:
        return
    before = list(days) if days is not None else [d for d in range(7) if d not in named]
    tails = dict.fromkeys((d + 1) % 7 if (d + 1) % 7 in named else "all" for d in before)
    for day in tails:
        yield day, 0, rng.end - 1440


def _next_free(free: list[int], minute: int) -> int:
    """The first unclaimed minute at or after minute (union-find with path compression)."""
    root = minute
    while free[root] != root:
        root = free[root]
    while free[minute] != root:
        free[minute], minute = root, free[minute]
    return root


def stage_reachability(policy: ir.Policy) -> Iterator[Diagnostic]:
    """Warnings: groups with no agents, routes to nobody, agents without IM permission."""
    shop = policy.shop
    no_im = {a.name: a for a in shop.agents if not a.im}
    routed_at = _first_routes(shop)
    for group in shop.groups:
        if not group.agents:
            route = routed_at.get(group.name)
            notes = (("a route sends consumers to it here", route),) if route is not None else ()
            yield warning("W500", f"group {group.name!r} has no agents", group.span, "add `agents …` or remove the group",
                          notes=notes)
        for ref in group.agents:
            if ref.name in no_im:
                yield warning("W503", f"agent {ref.name!r} has no IM permission and cannot chat", ref.span,
                              f"give the sub-account IM permission (`im on`) or take it out of {group.name!r}")
    if shop.routing and shop.routing.pages and shop.routing.default is None:
        yield warning("W502", "pages are routed but there is no `default ->` route" + _unrouted_pages(policy),
                      shop.routing.span, "add `default -> GROUP` so consumers from other pages reach someone known")


def _first_routes(shop: ir.Shop) -> dict[str, ir.Span | None]:
    """Each name a route sends consumers to (`page … ->`, `default ->`), with where it is first named."""
    first: dict[str, ir.Span | None] = {}
    if shop.routing:
        for route in shop.routing.pages:
            for ref in route.targets:
                first.setdefault(ref.name, ref.span)
        for ref in shop.routing.default or []:
            first.setdefault(ref.name, ref.span)
    return first


def _unrouted_pages(policy: ir.Policy) -> str:
    """`: shop_home and order_detail are not routed`: the platform's pages no `page` line names (or "")."""
    assert policy.shop.routing is not None
    routed = {ref.name for route in policy.shop.routing.pages for ref in route.pages}
    unrouted = [p.name for p in policy.platform.pages if p.name not in routed]
    if not unrouted:
        return ""
    names = unrouted[0] if len(unrouted) == 1 else f"{', '.join(unrouted[:-1])} and {unrouted[-1]}"
    return f": {names} {'is' if len(unrouted) == 1 else 'are'} not routed"


def stage_editor(policy: ir.Policy) -> Iterator[Diagnostic]:
    """Admin-only settings (platforms.md §4–5): a policy's `editor` must hold a role that may edit them."""
    shop, platform = policy.shop, policy.platform
    if not platform.restrictions:
        return
    used: dict[str, ir.Span | None] = {}
    for feature, span in features_used(shop):
        used.setdefault(feature, span)
    declared = {a.name: a for a in shop.agents}
    known = shop.agent_names()
    for rule in platform.restrictions:
        features = [f.name for f in rule.features if f.name in used]
        if not features:
            continue
        roles = sorted({r.name for r in rule.roles})
        what = ", ".join(features)
        if shop.editor is None:
            continue  # nothing to check: the policy does not say who applies it
        if shop.editor.name not in known:
            continue  # reported as an unknown agent by the names stage
        agent = declared.get(shop.editor.name)
        role = agent.role.name if agent and agent.role else "agent"
        if role not in roles:
            yield error("E211", f"editor {shop.editor.name!r} has role {role!r}; on {platform.name} only "
                                f"{' or '.join(roles)} may edit {what}", shop.editor.span,
                        f"name an account with role {' or '.join(roles)} as editor, or give {shop.editor.name!r} that role",
                        notes=((f"{features[0]} is set here", used[features[0]]),) if used[features[0]] else ())


def stage_mistakes(policy: ir.Policy) -> Iterator[Diagnostic]:
    """Likely slips: an agent nobody reaches, a group no route names, a member listed twice, a shadowed keyword or
    closing phrase."""
    shop = policy.shop
    yield from _repeated_members(shop)
    if not _names_unknown_target(shop):   # a misspelt target is E100 first: it may be the name these miss
        yield from _lone_agents(shop)
        yield from _unrouted_groups(shop)
    yield from _shadowed_keywords(shop)


def _names_unknown_target(shop: ir.Shop) -> bool:
    """Whether a route or the offline route names an agent or group the shop does not have (E100)."""
    known = shop.agent_names() | {g.name for g in shop.groups}
    named = set(_first_routes(shop)) | {ref.name for ref in (shop.offline_route.targets if shop.offline_route else [])}
    return not named <= known


def _repeated_members(shop: ir.Shop) -> Iterator[Diagnostic]:
    """W506 for an agent listed twice in one group (in two groups is E112)."""
    for group in shop.groups:
        first: dict[str, ir.Span | None] = {}
        for ref in group.agents:
            if ref.name in first:
                at = first[ref.name]
                yield warning("W506", f"agent {ref.name!r} is listed twice in group {group.name!r}", ref.span,
                              "remove one of the two", notes=(("first listed here", at),) if at else ())
            else:
                first[ref.name] = ref.span


def _lone_agents(shop: ir.Shop) -> Iterator[Diagnostic]:
    """W504 for an `agent` in no group and named by no route, while the shop has groups: most often a misspelt member."""
    if not shop.groups:
        return
    members = {ref.name for g in shop.groups for ref in g.agents}
    named = set(_first_routes(shop)) | {ref.name for ref in (shop.offline_route.targets if shop.offline_route else [])}
    if shop.editor:
        named.add(shop.editor.name)
    lone = [a for a in shop.agents if a.name not in members and a.name not in named]
    if not lone:
        return
    known = _Known("agent", sorted(members | named))
    for agent in lone:
        suggestion = known.suggest(agent.name)
        hint = (f"{suggestion} (an `agent` statement for a name that is in no group declares another agent)"
                if suggestion else "add it to a group's `agents`, route to it, or remove it")
        yield warning("W504", f"agent {agent.name!r} is in no group and no route names it", agent.span, hint)


def _unrouted_groups(shop: ir.Shop) -> Iterator[Diagnostic]:
    """W505 for a group with agents that no route names, when every consumer has a route (`default ->` or
    `scope groups`): nobody is assigned to it (without these, consumers from other pages go to any agent)."""
    routing = shop.routing
    if routing is None:
        return
    scoped = [ref.name for ref in routing.scope.groups] if routing.scope and routing.scope.kind == "groups" else []
    if routing.default is None and not scoped:
        return
    targets = set(_first_routes(shop)) | set(scoped)
    for group in shop.groups:
        if group.agents and group.name not in targets and not any(ref.name in targets for ref in group.agents):
            yield warning("W505", f"group {group.name!r} receives no consumer: no route names it", group.span,
                          f"route pages to it (`page … -> {group.name}`), name it in `default ->`, or remove it")


# Below this many keywords, testing each earlier keyword is quicker than building an automaton.
_SHADOW_AUTOMATON_FROM = 64


def _shadowed_keywords(shop: ir.Shop) -> Iterator[Diagnostic]:
    """W420 for a keyword that contains a keyword of an earlier reply.

    The replay answers a message with the reply of the first declared keyword the message contains
    (runtime/keywords.py): a message containing `退款` is answered by an earlier reply for `退`. The first
    keyword a text contains is found as the replay finds it (in declaration order, with an automaton for
    large sets). (A closing phrase that contains a keyword is no mistake: a message that is the phrase
    gets the closing reply, and the keyword reply is held back, see docs/replay.md.)
    """
    words: list[str] = []
    owners: list[ir.KeywordReply] = []
    for reply in shop.replies:
        if isinstance(reply, ir.KeywordReply):
            for word in reply.keywords:
                if word:   # the replay skips empty keywords
                    words.append(word)
                    owners.append(reply)
    if not words:
        return
    first_in = _first_contained(words)
    for j, word in enumerate(words):
        i = first_in(word)
        if i is not None and i < j and owners[i] is not owners[j] and words[i] != word:   # the same word twice: E401
            earlier = owners[i].span
            yield warning("W420", f"keyword {word!r} is shadowed by the earlier keyword {words[i]!r}", owners[j].span,
                          f"every message containing {word!r} contains {words[i]!r}, and the first keyword declared "
                          f"wins: move this reply above the other one",
                          notes=((f"{words[i]!r} is declared here", earlier),) if earlier else ())


def _first_contained(words: list[str]) -> Callable[[str], int | None]:
    """A function giving, for a text, the index of the first of words it contains, or None."""
    if len(words) < _SHADOW_AUTOMATON_FROM:
        def naive(text: str) -> int | None:
            return next((i for i, word in enumerate(words) if word in text), None)
        return naive
    from ahocorasick_rs import AhoCorasick
    automaton = AhoCorasick(words)

    def automatic(text: str) -> int | None:
        return min((index for index, _, _ in automaton.find_matches_as_indexes(text, overlapping=True)), default=None)
    return automatic


CHECK_STAGES: list[Stage] = [
    Stage("names", stage_names),
    Stage("platform_features", stage_platform_features),
    Stage("editor", stage_editor),
    Stage("limits", stage_limits),
    Stage("contradictions", stage_contradictions),
    Stage("reachability", stage_reachability),
    Stage("mistakes", stage_mistakes),
]


def check_policy(policy: ir.Policy, stages: list[Stage] | None = None) -> list[Diagnostic]:
    """Run every check stage on a resolved policy and collect all diagnostics."""
    diags: list[Diagnostic] = []
    for stage in stages or CHECK_STAGES:
        diags.extend(stage.run(policy))
    return diags
