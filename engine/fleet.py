"""Many shops in one replay: each shop through its own engine, the shops split into tasks that run in
this process, in `--jobs N` processes, or on a Dask cluster, with the same output (docs/scale.md).

The unit is the shop. Every shop gets its own `Engine` (its own random stream, seeded with the
replay's seed), fed that shop's events in the time order of the merged log (engine/logset.py).
So a shop's decisions do not depend on which other shops share its process, and a run split
into any number of tasks gives the output of one task, byte for byte:

- the report is assembled from the shops' parts in the order of their ids (`replay.assemble_report`);
- the decisions are written shop after shop in that order, each shop's in time order;
- each file's counts and rejected lines are reported by exactly one task, the first that reads it,
  and shown sorted by file and line.

A task reads the files that hold its shops, whole (each file's order checks see every line of it,
as in a one-process run), and keeps its shops' events. `plan` scans the files first to learn
which shops each holds, groups shops that share a file, and splits the groups into tasks.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import tempfile
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import msgspec

from . import ir
from .breakdown import Breakdown
from .events import MAX_LINE_BYTES, Event, Rejected, ReadStats, Vocabulary, _blocks
from .logset import named_errors, open_file, read_merged
from .replay import PROGRESS_EVERY, WRITE_BATCH, _collector_paused, naming_files, shop_part
from .runtime import Engine
from .runtime.decisions import encode_lines

REJECTS_KEPT = 100
"""Rejected lines kept per file for the message on stderr (every one is counted)."""
SPOOL_BYTES = 8 << 20
"""Encoded decisions a task holds in memory before it appends them to its shops' spool files."""
NO_SHOP = ""
"""How a task names the shop of events that name none (shop ids are never empty)."""


@dataclass
class Policies:
    """Which policy replays which shop: by shop id, then the fallback (a platform policy) for the others;
    a shop with neither is skipped (counted, named in the report)."""

    by_shop: dict[str, ir.Policy]
    files: dict[str, str | None]          # the policy file shown for each shop of by_shop
    fallback: ir.Policy | None = None
    automation: bool = True               # False: the fallback is a platform file replayed alone
    only: str | None = None               # --shop: this shop alone, events naming none are its own

    def for_shop(self, shop: str) -> tuple[ir.Policy | None, str | None]:
        """The policy of a shop and its file, or (None, None) to skip it."""
        if self.only is not None and shop != self.only:
            return None, None
        policy = self.by_shop.get(shop)
        if policy is not None:
            return policy, self.files.get(shop)
        return self.fallback, None


@dataclass
class Job:
    """Everything a task needs besides its own list: sent once to each worker."""

    files: list[str]
    policies: Policies
    seed: int = 0
    by: tuple[str, ...] = ()
    strict: bool = False
    vocabulary: Vocabulary | None = None
    spool: str | None = None               # a directory for decisions (every worker sees it), or None: no decisions
    model: Any = None                      # an agent model (engine/whatif): its agents answer, not the log's
    staff: Any = None                      # with a model: a staffing plan (engine/whatif/staff.py)


@dataclass
class Task:
    """A share of a job: the files it reads, the shops it replays (None: every shop it meets), and the files
    whose counts and rejections it reports."""

    index: int
    files: list[int]
    shops: frozenset[str] | None = None
    owns: frozenset[int] = frozenset()


@dataclass
class ShopOutcome:
    """One replayed or skipped shop: its report part (None when skipped), events, and its decisions' spool file."""

    shop: str
    part: dict | None
    events: int
    decisions: str | None = None


@dataclass
class TaskResult:
    """What a task sends back: its shops, the counts and first rejections of the files it owns."""

    index: int
    shops: list[ShopOutcome] = field(default_factory=list)
    reads: dict[int, ReadStats] = field(default_factory=dict)
    rejections: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    rejected: dict[int, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Events of the task's shops that were replayed or skipped."""
        return sum(s.events for s in self.shops)


class _ShopRun:
    """One shop's engine in a task, with its breakdown and its decisions not yet written."""

    __slots__ = ("shop", "mine", "engine", "feed", "breakdown", "policy_file", "pending", "chunks", "events", "spool")

    def __init__(self, shop: str, policy: ir.Policy | None, policy_file: str | None, job: Job, mine: bool = True,
                 files: list[str] | None = None):
        self.shop = shop
        self.mine = mine
        self.events = 0
        self.pending: list = []
        self.chunks: list[bytes] = []
        self.spool: str | None = None
        self.policy_file = policy_file
        self.breakdown: Breakdown | None = None
        if policy is None:
            self.engine = None
            return
        automation = job.policies.automation or policy is not job.policies.fallback
        self.engine = Engine(policy, seed=job.seed, automation=automation)
        self.engine.default_shop = shop or self.engine.default_shop
        # with several logs, each decision of an event names the event's file (files: the task's)
        self.feed = self.engine.feed if files is None else naming_files(self.engine.feed, files)
        if job.by:
            self.breakdown = Breakdown(self.engine, job.by)


def run_task(job: Job, task: Task, progress: Callable[[int], None] | None = None) -> TaskResult:
    """Replay a task's shops over its files (in this process): see the module doc. progress(events read)
    is called now and then."""
    with _collector_paused():
        return _run(job, task, progress)


def _run(job: Job, task: Task, progress: Callable[[int], None] | None) -> TaskResult:
    result = TaskResult(task.index)
    files = [job.files[i] for i in task.files]
    owned = {pos for pos, i in enumerate(task.files) if i in task.owns}

    def on_reject(pos: int, rejected: Rejected) -> None:
        if job.strict:   # the reader raises StrictError next: say which file
            raise BadLineStop(files[pos], rejected.line, rejected.reason)
        if pos not in owned:
            return
        index = task.files[pos]
        result.rejected[index] = result.rejected.get(index, 0) + 1
        kept = result.rejections.setdefault(index, [])
        if len(kept) < REJECTS_KEPT:
            kept.append((rejected.line, rejected.reason))

    reads, events = read_merged(files, on_reject=on_reject, strict=job.strict, vocabulary=job.vocabulary)
    runs: dict[str | None, _ShopRun] = {}
    wanted, only = task.shops, job.policies.only
    named = files if len(job.files) > 1 else None   # the files decisions name (none: one log)
    take = _Taker(job, task, runs)
    if job.model is not None:
        _play_models(job, _Demux(events, runs, wanted, only, job, progress, named), take)
    else:   # the log's people: each event to its shop's engine (as _Demux.pull routes it, inline: per event)
        count = 0
        for event in events:
            count += 1
            if progress is not None and not count & PROGRESS_EVERY:
                progress(count)
            key = event.shop
            run = runs.get(key)
            if run is None:
                run = runs[key] = _new_run(key, wanted, only, job, named)
            if not run.mine:
                continue
            run.events += 1
            if run.engine is None:
                continue
            decisions = run.feed(event)
            if decisions:
                take(run, decisions)
    for run in runs.values():
        if not run.mine:
            continue
        if run.engine is not None:
            last = run.engine.finish()
            if run.breakdown is not None:
                run.breakdown.observe(last)
            if job.spool is not None:
                run.pending += last
                _encode(run)
        part = shop_part(run.engine, run.breakdown, run.policy_file) if run.engine is not None else None
        result.shops.append(ShopOutcome(run.shop, part, run.events))
    if job.spool is not None:
        _spill(job.spool, task.index, runs.values())
        spools = {run.shop: run.spool for run in runs.values() if run.mine}
        for outcome in result.shops:
            outcome.decisions = spools[outcome.shop]
    result.shops.sort(key=lambda s: s.shop)
    for pos in sorted(owned):
        result.reads[task.files[pos]] = reads[pos]
    return result


class _Taker:
    """What becomes of a shop's decisions in a task: its breakdown counts them, and they are encoded and held
    (up to SPOOL_BYTES for the task) before they are appended to the shops' spool files."""

    def __init__(self, job: Job, task: Task, runs: dict[str | None, _ShopRun]):
        self.spool, self.task, self.runs = job.spool, task.index, runs
        self.held = 0

    def __call__(self, run: _ShopRun, decisions: list) -> None:
        if run.breakdown is not None:
            run.breakdown.observe(decisions)
        if self.spool is not None:
            run.pending += decisions
            if len(run.pending) >= WRITE_BATCH:
                self.held += _encode(run)
                if self.held > SPOOL_BYTES:
                    _spill(self.spool, self.task, self.runs.values())
                    self.held = 0


class _Demux:
    """The task's log, read as the shops' model runs need it: each event goes to its shop's queue (a shop met
    for the first time gets its run, and, when it is replayed here, a place among the runs to start)."""

    def __init__(self, events: Iterable[Event], runs: dict[str | None, _ShopRun], wanted: frozenset[str] | None,
                 only: str | None, job: Job, progress: Callable[[int], None] | None, named: list[str] | None):
        self.source, self.runs, self.wanted, self.only, self.job = iter(events), runs, wanted, only, job
        self.named = named   # the files decisions name (_ShopRun)
        self.progress, self.count, self.done = progress, 0, False
        self.queues: dict[str | None, deque[Event]] = {}
        self.started: list[tuple[str | None, _ShopRun]] = []   # the runs met since last asked, to start

    def pull(self) -> bool:
        """Read the log's next event into its shop's queue; False at the log's end."""
        event = next(self.source, None) if not self.done else None
        if event is None:
            self.done = True
            return False
        self.count += 1
        if self.progress is not None and not self.count & PROGRESS_EVERY:
            self.progress(self.count)
        key = event.shop
        run = self.runs.get(key)
        if run is None:
            run = self.runs[key] = _new_run(key, self.wanted, self.only, self.job, self.named)
            if run.mine and run.engine is not None:
                self.queues[key] = deque()
                self.started.append((key, run))
        if run.mine:
            run.events += 1
            if run.engine is not None:
                self.queues[key].append(event)
        return True

    def stream(self, key: str | None) -> Iterator[Event]:
        """A shop's events, read from the log as they are needed."""
        queue = self.queues[key]
        while True:
            while not queue:
                if not self.pull() and not queue:
                    return
            yield queue.popleft()


def _play_models(job: Job, demux: _Demux, take: _Taker) -> None:
    """With model agents: each shop's events played by the model actor, the shops' runs in step (the one whose
    clock is earliest plays next), so that the log is read once and only about a day of it is held (each run
    reads a day ahead of its clock)."""
    from .whatif.actor import ModelActor
    order = itertools.count()
    playing: list[tuple[float, int, _ShopRun, Any, Iterator[list]]] = []
    while True:
        for key, run in demux.started:
            assert run.engine is not None   # only a run with an engine is started
            runner = ModelActor(job.model, job.seed, job.staff).runner(run.engine, demux.stream(key), run.feed)
            heapq.heappush(playing, (-math.inf, next(order), run, runner, runner.run()))
        demux.started.clear()
        if not playing:
            if not demux.pull():
                return
            continue
        _, number, run, runner, steps = heapq.heappop(playing)
        decisions = next(steps, None)
        if decisions is None:
            continue   # this shop is played to its end
        take(run, decisions)
        heapq.heappush(playing, (runner.now, number, run, runner, steps))


def _new_run(key: str | None, wanted: frozenset[str] | None, only: str | None, job: Job,
             named: list[str] | None) -> _ShopRun:
    """The run of a shop first met in a task (not `mine`: another task's shop); named: the files its decisions
    name (None: one log)."""
    shop = key if key is not None else (only if only is not None else NO_SHOP)
    if wanted is not None and shop not in wanted:
        return _ShopRun(shop, None, None, job, mine=False)
    policy, policy_file = job.policies.for_shop(shop)
    return _ShopRun(shop, policy, policy_file, job, files=named)


def _encode(run: _ShopRun) -> int:
    data = encode_lines(run.pending)
    run.pending.clear()
    run.chunks.append(data)
    return len(data)


class SpoolError(Exception):
    """Writing decisions to a spool file failed (a full disk, say): the file and the system's reason."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)   # args as given: the error crosses process boundaries (pickled)
        self.path, self.reason = path, reason


def _spill(spool: str, task: int, runs: Iterable[_ShopRun]) -> None:
    """Append every shop's encoded decisions to its spool file: a new file per shop and attempt, so a task
    that Dask runs again after a lost worker never appends to the first attempt's file. SpoolError when
    a file cannot be written (told apart from the logs' read errors)."""
    for run in runs:
        if not run.mine or run.engine is None:
            continue
        try:
            if run.spool is None:
                handle, run.spool = tempfile.mkstemp(prefix=f"task{task}-", suffix=".jsonl", dir=spool)
                os.close(handle)
            with open(run.spool, "ab") as out:
                out.writelines(run.chunks)
        except OSError as err:
            raise SpoolError(run.spool or err.filename or spool, err.strerror or str(err)) from None
        run.chunks.clear()


# ---- planning ----------------------------------------------------------------------------------

class _ShopOf(msgspec.Struct):
    shop: Any = None


_shops_of_lines = msgspec.json.Decoder(list[_ShopOf]).decode
_shop_of_line = msgspec.json.Decoder(_ShopOf).decode


def scan_file(path: str) -> dict[str, int]:
    """How many lines of each shop a log file holds (NO_SHOP: objects naming none); lines that are not JSON
    objects are left out (the reader rejects them, and the task that owns the file reports them)."""
    counts: Counter = Counter()
    with open_file(path) as stream, named_errors(path):
        for block, _ in _blocks(stream, MAX_LINE_BYTES + 1):   # gunzipped if need be, whole lines, a long one cut
            _count_shops(block, counts)
    return dict(counts)


def _count_shops(block: bytes, counts: Counter) -> None:
    lines = [line for line in block.split(b"\n") if line.strip()]
    if not lines:
        return
    try:
        items = _shops_of_lines(b"[" + b",".join(lines) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        items = []
        for line in lines:
            try:
                items.append(_shop_of_line(line))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
    for item in items:
        shop = item.shop
        counts[shop if isinstance(shop, str) and shop else NO_SHOP] += 1


def plan(files: list[str], scans: list[dict[str, int]], jobs: int) -> list[Task]:
    """Tasks for `jobs` workers: shops that share a file go together (a file is read by one task), and
    while there are fewer tasks than workers the largest task is split in two (its files then read by both)."""
    parent: dict[str, str] = {}

    def root(shop: str) -> str:
        while parent[shop] != shop:
            parent[shop] = parent[parent[shop]]
            shop = parent[shop]
        return shop

    events: Counter = Counter()
    for scan in scans:
        shops = list(scan)
        for shop in shops:
            parent.setdefault(shop, shop)
            events[shop] += scan[shop]
        for other in shops[1:]:
            a, b = root(shops[0]), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for shop in sorted(parent):
        groups.setdefault(root(shop), []).append(shop)
    shares = [sorted(group) for group in groups.values()]
    shares += [[] for i, scan in enumerate(scans) if not scan]   # a file with no event still has its lines counted
    empty_files = [i for i, scan in enumerate(scans) if not scan]
    while len(shares) < jobs:
        largest = max((s for s in shares if len(s) > 1), key=lambda s: sum(events[x] for x in s), default=None)
        if largest is None:
            break
        shares.remove(largest)
        shares += _halves(largest, events)
    shares.sort(key=lambda s: (-sum(events[x] for x in s), s))
    tasks = []
    owner: dict[int, int] = {}
    for index, shops in enumerate(shares):
        if shops:
            mine = set(shops)
            reads = [i for i, scan in enumerate(scans) if mine & scan.keys()]
        else:
            reads = [empty_files.pop(0)]
        for i in reads:
            owner.setdefault(i, index)
        tasks.append(Task(index, reads, frozenset(shops), frozenset(i for i in reads if owner[i] == index)))
    return tasks


def _halves(shops: list[str], events: Counter) -> list[list[str]]:
    """Two shares of about equal events (largest shop first into the lighter one)."""
    halves: list[list[str]] = [[], []]
    weight = [0, 0]
    for shop in sorted(shops, key=lambda s: (-events[s], s)):
        lighter = 0 if weight[0] <= weight[1] else 1
        halves[lighter].append(shop)
        weight[lighter] += events[shop]
    return [sorted(h) for h in halves]


# ---- running -----------------------------------------------------------------------------------

class BadLineStop(Exception):
    """--strict: a task met a bad line (file, line, reason), and the run stops."""

    def __init__(self, file: str, line: int, reason: str):
        super().__init__(file, line, reason)
        self.file, self.line, self.reason = file, line, reason


Progress = Callable[[int, int, int], None]
"""progress(shops done, shops in all (0: not known yet), events done)."""


MERGE_AT_ONCE = 32
"""Up to this many logs, one process merges them all in one task; more are scanned and planned first."""


def run_here(job: Job, progress: Progress | None = None) -> list[TaskResult]:
    """The job in this process: up to MERGE_AT_ONCE logs as one task (every shop met is replayed); more are
    scanned and planned as for one worker, so that only files that share shops are merged (a file per shop
    is read alone: no merge of hundreds of files, and one file open at a time)."""
    every = list(range(len(job.files)))
    if len(job.files) <= MERGE_AT_ONCE:
        return [run_task(job, Task(0, every, None, frozenset(every)), progress and (lambda n: progress(0, 0, n)))]
    tasks = plan(job.files, [scan_file(file) for file in job.files], 1)
    results: list[TaskResult] = []
    for task in tasks:
        done = sum(r.events for r in results)
        results.append(run_task(job, task, progress and (lambda n: progress(0, 0, done + n))))
    return results


def run_processes(job: Job, jobs: int, progress: Progress | None = None) -> list[TaskResult]:
    """The job split by shop over `jobs` worker processes on this machine."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, mp_context=worker_context()) as pool:
        scans = list(pool.map(scan_file, job.files))
        tasks = plan(job.files, scans, jobs)
        futures = [pool.submit(run_task, job, task) for task in tasks]
        return _collect(as_completed(futures), lambda f: f.result(), tasks, progress, job.files)


def worker_context() -> Any:
    """How workers start: forked when this process has one thread (no re-import: about 0.3 s less a worker),
    else spawned (forking a process with threads can copy a held lock). The output is the same either way."""
    import multiprocessing
    import threading
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def run_dask(job: Job, address: str, jobs: int, progress: Progress | None = None) -> list[TaskResult]:
    """The job split by shop over a Dask cluster: `local` starts one of `jobs` worker processes, else the
    scheduler's address. Workers open the files themselves (docs/scale.md)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise DaskMissing() from None
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None) \
        if address == "local" else None
    try:
        try:
            client = Client(cluster if cluster is not None else address)
        except (OSError, ValueError) as err:   # no scheduler there, or not an address
            raise DaskUnreachable(f"cannot reach the Dask scheduler {address}: {err}") from None
        with client:
            scans = client.gather(client.map(scan_file, job.files, pure=False))
            tasks = plan(job.files, scans, jobs if cluster is not None else max(jobs, _workers(client)))
            shared = client.scatter(job, broadcast=True)
            futures = [client.submit(run_task, shared, task, pure=False) for task in tasks]
            return _collect(as_completed(futures), lambda f: f.result(), tasks, progress, job.files)
    finally:
        if cluster is not None:
            cluster.close()


class DaskMissing(Exception):
    """--dask without the optional dependency installed."""


class DaskUnreachable(Exception):
    """--dask names a scheduler that cannot be reached (or no address at all)."""


def _workers(client: Any) -> int:
    return len(client.scheduler_info().get("workers", {})) or 1


def _collect(done: Iterable[Any], result_of: Callable[[Any], TaskResult], tasks: list[Task],
             progress: Progress | None, files: list[str]) -> list[TaskResult]:
    """The tasks' results as they finish; with --strict, the stop at the first file and line any task met."""
    shops = sum(len(t.shops or ()) for t in tasks)
    results, finished, events = [], 0, 0
    stops: list[BadLineStop] = []
    for future in done:
        try:
            result = result_of(future)
        except BadLineStop as stop:
            stops.append(stop)
            continue
        results.append(result)
        finished += len(result.shops)
        events += result.events
        if progress is not None:
            progress(finished, shops, events)
    if stops:
        raise min(stops, key=lambda stop: (files.index(stop.file), stop.line))
    return sorted(results, key=lambda r: r.index)


@dataclass
class Outcome:
    """A job's tasks put together: shops in id order, each file's counts, the rejected lines by file and line."""

    shops: list[ShopOutcome]
    reads: list[ReadStats]
    rejections: list[tuple[int, int, str]]
    rejected: int

    @property
    def replayed(self) -> list[ShopOutcome]:
        """The shops a policy replayed."""
        return [s for s in self.shops if s.part is not None]

    @property
    def skipped(self) -> list[ShopOutcome]:
        """The shops no policy replayed (their events counted)."""
        return [s for s in self.shops if s.part is None and s.events]


def combine(job: Job, results: list[TaskResult]) -> Outcome:
    """The tasks' results as one (the same for any split of the job)."""
    shops = sorted((s for r in results for s in r.shops), key=lambda s: s.shop)
    reads = [ReadStats() for _ in job.files]
    rejections: list[tuple[int, int, str]] = []
    rejected = 0
    for r in results:
        for index, stats in r.reads.items():
            reads[index] = stats
        for index, kept in r.rejections.items():
            rejections += [(index, line, reason) for line, reason in kept]
        rejected += sum(r.rejected.values())
    rejections.sort()
    return Outcome(shops, reads, rejections[:REJECTS_KEPT], rejected)


def write_decisions(outcome: Outcome, out: Any) -> None:
    """Every shop's decisions, shop after shop in id order, then the spool files removed."""
    for shop in outcome.shops:
        if shop.decisions is None:
            continue
        with open(shop.decisions, "rb") as spool:
            while chunk := spool.read(1 << 20):
                out.write(chunk)
        os.remove(shop.decisions)
