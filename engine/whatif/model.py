"""The agent model `kefu calibrate` writes: pydantic models, and their YAML file (docs/whatif.md).

The file is plain YAML with a fixed key order (the models' field order; shops, groups and agents
sorted by name; quantiles from p05 to p99, hours from 00 to 23), so that the same log gives the same
bytes and a person can read and edit it. `save_model` writes it, `load_model` reads it back (checking
`version`); saving what was loaded gives the same bytes (round-trip stable).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Optional, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

__all__ = [
    "VERSION", "QUANTILES", "LOAD_BUCKETS", "MIN_OBSERVATIONS", "SURVIVAL_AT", "Pool", "Pooled", "DelaysByLoad",
    "PooledDelays", "SessionEnds", "HourPresence", "Presence", "Patience", "AgentEntry", "GroupEntry", "ShopEntry",
    "Settings", "Source", "AgentModel", "ModelError", "ModelMismatch", "read_mapping", "validated", "quantile_key", "dump_model", "save_model", "load_model",
]

VERSION = 1
"""The file format's version: `load_model` refuses another."""

QUANTILES = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75,
             0.80, 0.85, 0.90, 0.95, 0.99)
"""The quantiles a distribution gives (p05 … p95, p99)."""

LOAD_BUCKETS = ((1, 1), (2, 3), (4, 6), (7, None))
"""An agent's load (consumers in hand, the one answered included), bucketed: 1, 2-3, 4-6, 7+."""

MIN_OBSERVATIONS = 30
"""Fewest observations a distribution is taken from at the agent's level (then the group's, the shop's)."""

SURVIVAL_AT = (60, 180, 300, 600, 1800)
"""Seconds at which the patience's survival (share still waiting) is given."""

PoolLevel = Literal["agent", "group", "shop", "shop_all_loads", "none"]


def quantile_key(q: float) -> str:
    """The key of a quantile in the file: 0.05 -> p05, 0.5 -> p50, 0.99 -> p99."""
    return f"p{round(q * 100):02d}"


def bucket_name(bucket: tuple[int, Optional[int]]) -> str:
    """A load bucket's name: 1, 2-3, 7+."""
    low, high = bucket
    return f"{low}+" if high is None else str(low) if low == high else f"{low}-{high}"


BUCKET_NAMES = tuple(bucket_name(b) for b in LOAD_BUCKETS)
"""The load buckets' names, the keys of a distribution by load."""
HOURS = tuple(f"{h:02d}" for h in range(24))


def _one_of(known: tuple[str, ...], what: str) -> Any:
    """A key that must be one of `known` (an edited file's typo, `p5` for `p05`, is an error, not ignored)."""
    def check(key: str) -> str:
        if key not in known:
            raise ValueError(f"{key!r} is not a {what} ({', '.join(known)})")
        return key
    return AfterValidator(check)


MAX_SECONDS = 30 * 86400
"""The longest delay or patience a model may give (a month): more is a mistyped file, and would overflow a clock."""

Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

QuantileKey = Annotated[str, _one_of(tuple(quantile_key(q) for q in QUANTILES), "quantile")]
BucketKey = Annotated[str, _one_of(BUCKET_NAMES, "load bucket")]
HourKey = Annotated[str, _one_of(HOURS, "local hour")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pool(_Model):
    """An empirical distribution of seconds: its observations' count and quantiles (None when n is 0)."""

    n: int
    mean: Optional[Seconds] = None   # the observations' mean: the tail above p99 is drawn to keep it (docs/whatif.md)
    quantiles: Optional[dict[QuantileKey, Seconds]] = None


class Pooled(_Model):
    """An agent's distribution: taken from the pool named (agent, group, shop, shop_all_loads or none)."""

    pool: PoolLevel
    own_n: int          # the agent's own observations
    n: int              # the observations of the pool used
    mean: Optional[Seconds] = None
    quantiles: Optional[dict[QuantileKey, Seconds]] = None


class DelaysByLoad(_Model):
    """Reply delays of a pool (a shop or a group) by load bucket, and over all loads."""

    first_reply: dict[BucketKey, Pool]
    follow_up: dict[BucketKey, Pool]
    first_reply_all_loads: Pool
    follow_up_all_loads: Pool


class PooledDelays(_Model):
    """An agent's reply delays by load bucket, each from the level the pooling rule chose."""

    first_reply: dict[BucketKey, Pooled]
    follow_up: dict[BucketKey, Pooled]


class SessionEnds(_Model):
    """How sessions with agents ended: by hand (a session_end) or by the platform (none), with the delay of
    the hand ends after the last exchange."""

    sessions: int
    by_hand: Optional[Share] = None   # share of sessions; None when there is none
    auto: Optional[Share] = None
    by_hand_delay: Pool


class HourPresence(_Model):
    """Shares of an hour of day (summed over the log's days) an agent was online, busy, offline."""

    online: Share
    busy: Share
    offline: Share


class Presence(_Model):
    """An agent's presence by local hour of day ("00" … "23"), from status events or inferred from replies."""

    source: Literal["status", "inferred"]
    hours: dict[HourKey, HourPresence]


class Patience(_Model):
    """How long consumers wait unanswered for a first reply before leaving (Kaplan–Meier, censored)."""

    waits: int
    left: int        # waits that ended with the consumer gone unanswered (observed patience)
    censored: int    # waits that ended with a reply, or open at the end of the log
    quantiles: dict[QuantileKey, Optional[Seconds]]   # None: more than that share never left within the longest wait
    survival: dict[str, Share]              # share still waiting after 60 s, 180 s, …
    leaves: Literal["queued", "unanswered"] = "queued"
    """Where a consumer can run out of patience in the counterfactual: only while queued (chat: once an agent
    has them they stay), or while waiting for the first reply even when assigned (phone: a caller hangs up
    while the call rings)."""


class AgentEntry(_Model):
    """One agent: its reply delays by load, how its sessions end, its presence over the day."""

    agent: str
    group: Optional[str] = None
    max_sessions: Optional[int] = None
    replies: int        # its messages
    delays: PooledDelays
    session_end: SessionEnds
    presence: Presence


class GroupEntry(_Model):
    """A group (from agent_status events) and its agents' pooled reply delays."""

    group: str
    agents: list[str]
    delays: DelaysByLoad


class ShopEntry(_Model):
    """One shop of the log (None: events naming no shop)."""

    shop: Optional[str] = None
    consumers: int
    replies: int        # agent messages (the delays count only those that answered a waiting consumer)
    delays: DelaysByLoad
    session_end: SessionEnds
    patience: Patience
    groups: list[GroupEntry]
    agents: list[AgentEntry]


class Settings(_Model):
    """The rules the model was calibrated with (docs/whatif.md)."""

    load_buckets: list[str]
    min_observations: int
    idle_gap_s: int
    max_wait_s: int
    timezone: str


class Source(_Model):
    """What the model was calibrated on."""

    log: str
    platform: Optional[str] = None
    shop: Optional[str] = None
    events_read: int
    events_accepted: int
    events_rejected: int
    first_ts: Optional[str] = None
    last_ts: Optional[str] = None


class AgentModel(_Model):
    """The whole file: version, source, settings, and a model per shop."""

    version: int = VERSION
    kind: Literal["kefu agent model"] = "kefu agent model"
    source: Source
    settings: Settings
    shops: list[ShopEntry] = Field(default_factory=list)


class ModelMismatch(Exception):
    """The agent model has no entry for a shop the log holds (a replay meets it: exit 2)."""


def entry_for(model: AgentModel, shop: str | None) -> ShopEntry:
    """The model's entry for a shop: its own, else the one shop of a model that has one (it answers for any shop;
    `stand_ins` names where it does, for the CLI to say so); ModelMismatch when it has several and not this one."""
    for entry in model.shops:
        if entry.shop == shop:
            return entry
    if len(model.shops) == 1:
        return model.shops[0]
    raise ModelMismatch(f"the agent model has no shop {shop!r} (it has {', '.join(str(e.shop) for e in model.shops)})")


def stand_ins(model: AgentModel, shops: Iterable[str | None]) -> list[tuple[str | None, str | None]]:
    """(shop, the model's shop that answers for it) for each of the shops the model has no entry of but answers
    for all the same (a model of one shop), in the order given."""
    own = {entry.shop for entry in model.shops}
    if len(model.shops) != 1:
        return []
    return [(shop, model.shops[0].shop) for shop in dict.fromkeys(shops) if shop not in own]


class ModelError(Exception):
    """A model file that cannot be read: not YAML, a wrong field, another version."""


_HEADER = "# kefu agent model, written by `kefu calibrate` (docs/whatif.md); edit freely, keep `version`.\n"


def _styled(value: Any) -> Any:
    """value as ruamel round-trip data: the mappings of numbers (quantiles, survival, an hour's shares) on one line."""
    if isinstance(value, dict):
        styled = CommentedMap((k, _styled(v)) for k, v in value.items())
        if value and all(isinstance(v, (int, float)) or v is None for v in value.values()):
            styled.fa.set_flow_style()
        return styled
    if isinstance(value, list):
        return [_styled(v) for v in value]
    return value


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096   # a line per mapping of numbers, never folded
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def dump_model(model: AgentModel) -> bytes:
    """The model as the bytes of its YAML file."""
    out = io.StringIO()
    out.write(_HEADER)
    _yaml().dump(_styled(model.model_dump(mode="json")), out)
    return out.getvalue().encode("utf-8")


def save_model(model: AgentModel, path: Path) -> None:
    """Write the model's YAML file whole (a temporary file renamed over path)."""
    from ..outputs import write_whole

    write_whole(path, dump_model(model))


def load_model(path: Path) -> AgentModel:
    """Read a model file; ModelError says what is wrong with it (OSError when it cannot be read)."""
    data = read_mapping(path, ModelError, f"not an agent model (a YAML mapping with `version: {VERSION}`)")
    if data.get("version") != VERSION:
        raise ModelError(f"{path}: agent model version {data.get('version')!r}; this kefu reads version {VERSION}")
    return validated(AgentModel, data, path, ModelError)


M = TypeVar("M", bound=BaseModel)


def read_mapping(path: Path, error: type[Exception], not_mapping: str) -> dict:
    """A YAML file's top-level mapping; `error` says where it is not UTF-8, not YAML (file:line:col), has a
    value YAML cannot read (a date 2026-13-45), or is not a mapping. OSError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except ValueError as err:   # a value the safe loader builds and rejects, such as an impossible date
        raise error(f"{path}: a value YAML cannot read: {err}") from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise error(f"{path}{where}: not YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: {not_mapping}")
    return data


def validated(cls: type[M], data: dict, path: Path, error: type[Exception]) -> M:
    """data as a `cls`; `error` names the first wrong field by its dotted place, and how many there are."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise error(f"{path}: {where}: {first['msg']} ({err.error_count()} error(s))") from None
