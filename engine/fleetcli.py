"""`kefu replay --platform NAME` and `kefu replay --policies DIR`: many shops, each through its own engine,
in this process, in --jobs processes or on Dask (engine/fleet.py; docs/scale.md)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from . import ir
from .cli import (EXIT_ERRORS, EXIT_USAGE, MAX_REJECTS_SHOWN, _NO_STREAM, OutputFormat, _check_plan, _commit_report,
                  _Decisions, _exit_code, _loader, _open_outputs, _print_body, _print_diagnostics, _progress,
                  _log_label, _model_mismatch, _refuse_a_log_without_events, _refuse_overwriting, _replay_policy, _tell,
                  _tell_other_shops, _tell_stand_ins, _walk_policies, _WriteError)
from .diagnostics import Diagnostic
from .events import Rejected, ReadStats, Vocabulary, standard_stream
from .fleet import (BadLineStop, SpoolError, DaskMissing, DaskUnreachable, Job, Outcome, Policies, combine, run_dask, run_here,
                    run_processes, write_decisions)
from .logset import LogSpecError, is_url, total
from .outputs import PendingOutputs
from .whatif.model import ModelMismatch
from .replay import SHOPS_NAMED, assemble_report


def replay_shops(*, policies: Optional[Path], platform: Optional[str], policy: Optional[Path], files: list[str],
                 decisions: Optional[Path], report: Optional[Path], render: Callable[[dict], bytes], seed: int,
                 strict: bool, platform_dir: list[Path], by: list[str], shop: Optional[str], jobs: int,
                 dask: Optional[str], actor: Any = None, model: Optional[Path] = None, staff: Optional[Path] = None,
                 read_too: Optional[list[tuple[str, Path]]] = None) -> None:
    """Replay every shop of the logs on its policy (or the platform alone); see `kefu replay --help`.

    Called by the replay command (engine/cli.py), whose options these are; render: the report's format;
    model, staff: the agent model's and the staffing plan's files (of the actor); read_too: the other files the run reads (the agent model, the
    staffing plan), which no output may replace."""
    if policy is not None:
        _tell("error: give a POLICY file or --policies DIR, not both")
        raise typer.Exit(EXIT_USAGE)
    if "-" in files and (jobs > 1 or dask is not None):
        _tell("error: --jobs and --dask read the logs in several processes: standard input cannot be shared")
        raise typer.Exit(EXIT_USAGE)
    fallback, inputs = None, []
    if platform is not None:
        fallback, _, inputs = _replay_policy(None, platform, platform_dir)
    table = _shop_policies(policies, platform_dir, inputs) if policies is not None else Policies({}, {})
    table.fallback, table.automation, table.only = fallback, False, shop
    _check_plan(actor.staff if actor is not None else None, staff,
                [*table.by_shop.values(), *([fallback] if fallback is not None else [])])
    to_stdout = decisions is not None and str(decisions) == "-"
    if to_stdout and report is None:
        _tell("error: --decisions - writes the decisions to standard output: give the report a file with --report")
        raise typer.Exit(EXIT_USAGE)
    _refuse_overwriting({"--decisions": None if to_stdout else decisions, "--report": report}, files,
                        inputs + (read_too or []))
    _check_readable(files)
    job = Job(files, table, seed=seed, by=tuple(by), strict=strict, vocabulary=_vocabulary(table),
              model=actor.model if actor is not None else None, staff=actor.staff if actor is not None else None)
    with PendingOutputs() as outputs:
        written = _open_outputs(outputs, {"decisions": None if to_stdout else decisions, "report": report}, _NO_STREAM)
        spool = tempfile.mkdtemp(prefix=".kefu-spool-", dir=_spool_parent(decisions, to_stdout)) \
            if decisions is not None else None
        job.spool = spool
        try:
            outcome = _run(job, jobs, dask)
            if decisions is not None:
                out = _Decisions(standard_stream("stdout") if to_stdout else written["decisions"])
                write_decisions(outcome, out)
                out.finish()
        except BadLineStop as err:
            _tell(f"stopped at the first bad line (--strict): {err.file}:{err.line}: {err.reason}")
            raise typer.Exit(EXIT_ERRORS)
        except ModelMismatch as err:
            _model_mismatch(model, err)
        except _WriteError as err:
            _tell(f"error: cannot write decisions {decisions}: {err.reason}")
            raise typer.Exit(EXIT_USAGE)
        except SpoolError as err:
            _tell(f"error: cannot write decisions {decisions}: their spool file {err.path}: {err.reason}")
            raise typer.Exit(EXIT_USAGE)
        except (OSError, EOFError, zlib.error, LogSpecError) as err:   # a corrupt or cut .gz log among them
            _tell(f"error: cannot read events {getattr(err, 'filename', None) or _log_label(files)}: "
                  f"{getattr(err, 'strerror', None) or err}")
            raise typer.Exit(EXIT_USAGE)
        finally:
            if spool is not None:
                shutil.rmtree(spool, ignore_errors=True)
        stats = _tell_rejections(outcome, files)
        label = _log_label(files)
        _tell_skipped(outcome, shop, label)
        if actor is not None:
            _tell_stand_ins(model, actor.model, (s.shop for s in outcome.replayed))
        first = outcome.rejections[0] if outcome.rejections else None
        _refuse_a_log_without_events(label, stats, Rejected(first[1], first[2], files[first[0]]) if first else None)
        data = _report(outcome, stats, files, table, seed)
        body = render(data)
        _commit_report(outputs, written, report, body)
    if report is None:
        _print_body(body)


def _spool_parent(decisions: Optional[Path], to_stdout: bool) -> Optional[str]:
    """Where the decisions wait until they are written in shop order: beside the decisions file (a path a
    Dask cluster's workers see if that file's directory is shared), else the temporary directory."""
    if decisions is None or to_stdout or (decisions.exists() and not decisions.is_file()):
        return None   # (beside /dev/null or a pipe: nothing to share, and no right to write)
    return str(decisions.resolve().parent)


def _check_readable(files: list[str]) -> None:
    """Exit 2 naming the first local log that cannot be opened (workers open them later)."""
    for file in files:
        if file == "-" or is_url(file):
            continue
        try:
            with open(file, "rb"):
                pass
        except OSError as err:
            _tell(f"error: cannot read events {file}: {err.strerror or err}")
            raise typer.Exit(EXIT_USAGE)


def _shop_policies(directory: Path, platform_dir: list[Path], inputs: list) -> Policies:
    """Every shop policy under a directory by the shop its header names; exit 1 on a policy's errors or on
    two policies for one shop, 2 when the directory holds none."""
    if not directory.is_dir():
        _tell(f"error: --policies {directory}: not a directory")
        raise typer.Exit(EXIT_USAGE)
    paths, problems = _walk_policies(directory)
    loader = _loader(platform_dir)
    diags: list[Diagnostic] = list(problems)
    sources: dict = {}
    by_shop: dict[str, ir.Policy] = {}
    shown: dict[str, str | None] = {}
    for path in paths:
        result = loader.load(path)
        diags += result.diagnostics
        sources.update(result.sources)
        inputs += result.inputs
        if result.policy is None or not result.ok:
            continue   # a snippet or a platform file (or a policy with errors, reported)
        name = result.policy.shop.name
        display = loader.display_of(path)
        if name in by_shop:
            _tell(f"error: {display} and {shown[name]} are both policies of shop {name!r}: give each shop one policy")
            raise typer.Exit(EXIT_ERRORS)
        by_shop[name], shown[name] = result.policy, display
    if diags:
        _print_diagnostics(diags, sources, OutputFormat.text, [str(directory)])
        code = _exit_code(diags, False)
        if code:
            raise typer.Exit(code)
    if not by_shop:
        _tell(f"error: --policies {directory}: no shop policy (a file starting `shop \"id\" on PLATFORM`) under it")
        raise typer.Exit(EXIT_USAGE)
    return Policies(by_shop, shown)


def _vocabulary(table: Policies) -> Vocabulary | None:
    """The pages and senders the logs may name: those of every platform a shop is replayed on."""
    platforms = {p.platform.name: p.platform for p in table.by_shop.values()}
    if table.fallback is not None:
        platforms[table.fallback.platform.name] = table.fallback.platform
    if len(platforms) == 1:
        return Vocabulary.of_platform(next(iter(platforms.values())))
    pages: dict[str, None] = {}
    senders: dict[str, None] = {}
    for name in sorted(platforms):
        vocabulary = Vocabulary.of_platform(platforms[name])
        pages.update(dict.fromkeys(vocabulary.pages))
        senders.update(dict.fromkeys(vocabulary.senders))
    return Vocabulary(tuple(pages), tuple(senders), f"platforms {', '.join(sorted(platforms))}")


def _run(job: Job, jobs: int, dask: Optional[str]) -> Outcome:
    if dask is not None:
        try:
            with _shops_progress() as tick:
                return combine(job, run_dask(job, dask, jobs, tick))
        except DaskMissing:
            _tell("error: --dask needs Dask: pip install 'kefu[dask]'")
            raise typer.Exit(EXIT_USAGE)
        except DaskUnreachable as err:
            _tell(f"error: --dask: {err}")
            raise typer.Exit(EXIT_USAGE)
    if jobs > 1:
        with _shops_progress() as tick:
            return combine(job, run_processes(job, jobs, tick))
    label = job.files[0] if len(job.files) == 1 else f"{len(job.files)} logs"
    with _progress(label) as tick:
        return combine(job, run_here(job, (lambda done, total, n: tick(n)) if tick is not None else None))


class _shops_progress:
    """Shops done of all, and events per second, on stderr while tasks run (a terminal only)."""

    def __enter__(self) -> Callable[[int, int, int], None] | None:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("replaying shops"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), transient=True,
                            console=Console(stderr=True))
        self.bar.__enter__()
        task = self.bar.add_task("shops", total=None, rate="")
        start = time.monotonic()

        def tick(done: int, total: int, events: int) -> None:
            rate = events / max(time.monotonic() - start, 1e-9)
            self.bar.update(task, completed=done, total=total or None, rate=f"{events:,} events, {rate:,.0f}/s")
        return tick

    def __exit__(self, *exc: object) -> None:
        bar = getattr(self, "bar", None)
        if bar is not None:
            bar.__exit__(*exc)


def _tell_rejections(outcome: Outcome, files: list[str]) -> ReadStats:
    """The first rejected lines by file and line, how many more there were; the counts of every file."""
    for index, line, reason in outcome.rejections[:MAX_REJECTS_SHOWN]:
        _tell(f"{files[index]}:{line}: rejected: {reason}")
    if outcome.rejected > MAX_REJECTS_SHOWN:
        label = _log_label(files)
        _tell(f"{label}: {outcome.rejected - MAX_REJECTS_SHOWN} more rejected lines not shown")
    return total(outcome.reads)


def _tell_skipped(outcome: Outcome, shop: Optional[str], label: str) -> None:
    """Say which shops' events were skipped: those of other shops than --shop (as a one-policy replay says it),
    or of shops with no policy."""
    skipped = outcome.skipped
    if not skipped:
        return
    events = sum(s.events for s in skipped)
    if shop is not None:
        _tell_other_shops(label, events, (s.shop for s in skipped[:SHOPS_NAMED + 1]), shop)
        return
    named = ", ".join(f'"{s.shop}"' for s in skipped[:SHOPS_NAMED])
    more = ", …" if len(skipped) > SHOPS_NAMED else ""
    _tell(f"{label}: {events} event{'s' if events != 1 else ''} of {len(skipped)} shop{'s' if len(skipped) != 1 else ''} "
          f"with no policy skipped (shops {named}{more}): give --platform NAME to replay them on their platform alone")


def _report(outcome: Outcome, stats: ReadStats, files: list[str], table: Policies, seed: int) -> dict:
    """The report of every replayed shop (docs/replay.md), with the skipped shops and each file's counts."""
    parts = [s.part for s in outcome.replayed if s.part is not None]
    platforms = sorted({p["platform"] for p in parts}) or \
        ([table.fallback.platform.name] if table.fallback is not None else
         sorted({p.platform.name for p in table.by_shop.values()}))
    header: dict[str, Any] = {"platform": platforms[0] if len(platforms) == 1 else None, "policy": None}
    if table.by_shop:
        header["policies"] = [{"shop": name, "file": table.files[name]} for name in sorted(table.by_shop)]
    extra: dict[str, Any] = {}
    if len(files) > 1:
        extra["files"] = [{"file": f, "read": r.read, "accepted": r.accepted, "rejected": r.rejected}
                          for f, r in zip(files, outcome.reads)]
    data = assemble_report(parts, stats, header, seed=seed, skipped=sum(s.events for s in outcome.skipped),
                           extra_events=extra)
    if outcome.skipped:
        data["skipped_shops"] = [{"shop": s.shop, "events": s.events} for s in outcome.skipped]
    return data
