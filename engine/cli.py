"""The `kefu` command line: one function per command."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import zlib
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Iterator, List, Optional, cast

import typer

from . import ir
from .diagnostics import Diagnostic, error, render_github, render_json, render_text, visible
from .loader import POLICY_SUFFIX, LoadResult, Loader
from .outputs import OutputFailed, PendingOutputs, write_whole
from .source import SourceFile, overwritten_input, path_kind, stdin_file

if TYPE_CHECKING:   # the event reader is imported when a replay runs, not for every command
    from .events import ReadStats, Rejected

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
IO_CODES = {"E001"}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="kefu: policies for customer-service desks (客服) on Taobao, Pinduoduo and Douyin.",
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from . import __version__
        from .whatif import actor_build
        typer.echo(f"kefu {__version__} (Python {sys.version.split()[0]}; what-if actor: {actor_build()})")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print kefu's version, Python's, and whether the what-if actor is "
                                               "compiled (docs/benchmarks.md), and exit.")) -> None:
    """kefu: policies for customer-service desks (客服) on Taobao, Pinduoduo and Douyin."""


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _walk_policies(directory: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Every *.kefu file under a directory, and an E001 for each directory under it that cannot be read.

    Path.rglob skips such directories silently; their policies would go unchecked without a word.
    """
    found: list[Path] = []
    unreadable: list[Diagnostic] = []

    def refused(err: OSError) -> None:
        where = Path(err.filename) if err.filename else directory
        unreadable.append(error("E001", f"{where.as_posix()}: cannot read directory: {err.strerror or err}", None,
                                "check its permissions; the policies in it were not checked"))

    for folder, _, names in os.walk(directory, onerror=refused):
        found.extend(Path(folder, name) for name in names if name.endswith(POLICY_SUFFIX))
    return sorted(p for p in found if path_kind(p) == "other"), unreadable


def _policy_files(paths: list[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand paths to policy files; a directory contributes every *.kefu under it."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for path in paths:
        kind = path_kind(path)
        if kind == "dir":
            found, unreadable = _walk_policies(path)
            problems.extend(unreadable)
            if not found and not unreadable:
                problems.append(error("E006", f"{path}: no policy files (*{POLICY_SUFFIX}) in this directory", None,
                                      f"policy files end in {POLICY_SUFFIX}"))
            files.extend(found)
        elif kind == "other":
            files.append(path)   # reading it reports what is wrong with it, if anything
        else:
            problems.append(error("E001", f"{path}: no such file or directory", None, "check the path"))
    return files, problems


def _unique(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _print_diagnostics(diags: list[Diagnostic], sources: dict[str, SourceFile], fmt: OutputFormat, files: list[str]) -> None:
    if fmt is OutputFormat.json:
        sys.stdout.write(render_json(diags, files))
    elif fmt is OutputFormat.github:
        sys.stdout.write(render_github(diags))
    else:
        def line_of(file: str, line: int) -> str | None:
            src = sources.get(file)
            return src.line_text(line) if src else None
        sys.stderr.write(render_text(diags, line_of))


def _exit_code(diags: list[Diagnostic], strict: bool) -> int:
    if any(d.code in IO_CODES or d.code == "E006" for d in diags):
        return EXIT_USAGE
    if any(d.severity == "error" for d in diags) or (strict and diags):
        return EXIT_ERRORS
    return EXIT_OK


@app.command()
def check(
    paths: List[Path] = typer.Argument(..., help="Policy files or directories (every *.kefu under them)."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="text, json or github annotations."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the check too."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Check policy files: syntax, names, platform limits, contradictions.

    Exit codes: 0 clean, 1 errors (or warnings with --strict), 2 usage or I/O error.
    """
    loader = _loader(platform_dir)
    files, diags = _policy_files(paths)
    sources: dict[str, SourceFile] = {}
    shown: list[str] = []
    for path in files:
        result = loader.load(path)
        shown.append(loader.display_of(path))
        sources.update(result.sources)
        diags.extend(sorted(result.diagnostics, key=Diagnostic.sort_key))
    diags = _unique(diags)
    _print_diagnostics(diags, sources, format, shown)
    code = _exit_code(diags, strict)
    if format is OutputFormat.text:
        errors = sum(1 for d in diags if d.severity == "error")
        warnings = len(diags) - errors
        verdict = "ok" if code == EXIT_OK else "failed"
        typer.echo(f"checked {len(files)} file{'s' if len(files) != 1 else ''}: "
                   f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} — {verdict}",
                   err=True)
    raise typer.Exit(code)


def _loader(platform_dir: list[Path]) -> Loader:
    """A loader searching these platform directories; a directory that does not exist is a usage error (exit 2)."""
    for directory in platform_dir:
        kind = path_kind(directory)
        if kind != "dir":
            what = "no such directory" if kind == "missing" else "not a directory"
            _tell(f"error: --platform-dir {directory}: {what}")
            raise typer.Exit(EXIT_USAGE)
    return Loader(platform_dir)


def _load_one(path: Path, platform_dir: list[Path]) -> LoadResult:
    loader = _loader(platform_dir)
    kind = path_kind(path)
    if kind != "other":
        result = LoadResult()
        what = "is a directory" if kind == "dir" else "no such file"
        result.diagnostics.append(error("E001", f"{path}: {what}", None, "pass one .kefu policy file"))
        return result
    return loader.load(path)


@app.command("ir")
def ir_command(
    path: Path = typer.Argument(..., help="A shop policy (or platform file)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Print the resolved IR of a policy (platform merged in) as JSON."""
    result = _load_one(path, platform_dir)
    if not result.ok or (result.policy is None and result.platform is None):
        diags = sorted(result.diagnostics, key=Diagnostic.sort_key) or [
            error("E030", f"{path}: a fragment has no IR of its own", None, "pass a shop policy or a platform file")]
        _print_diagnostics(diags, result.sources, OutputFormat.text, [str(path)])
        raise typer.Exit(_exit_code(diags, False) or EXIT_ERRORS)
    model = result.policy if result.policy is not None else result.platform
    assert model is not None  # both None exits above
    typer.echo(model.model_dump_json(indent=2))


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    html = "html"


class PlainFormat(str, Enum):
    """The formats of `kefu explain` and `kefu test` (no HTML page)."""
    text = "text"
    json = "json"


class AgentsKind(str, Enum):
    """Who answers in a replay or a compare: `log` (the log's people, as they did) or `model` (agents answer as an
    agent model says)."""
    log = "log"
    model = "model"


def _check_plan(plan: Any, staff: Optional[Path], policies: list[ir.Policy]) -> None:
    """Exit 2 when the --staff plan's head counts join a group no policy has (those agents would take no
    consumer: a typo would otherwise go unnoticed)."""
    if plan is None:
        return
    _note_unknown_agents(plan, staff, policies)
    from .whatif.staff import unknown_groups
    groups = {group.name for policy in policies for group in policy.shop.groups}
    if not groups:
        return   # no policy declares a group (a --platform replay): the log's agent_status events name them
    unknown = unknown_groups(plan, groups)
    if unknown:
        from .names import did_you_mean
        hint = did_you_mean(unknown[0], sorted(groups)) or f"the policy's groups: {', '.join(sorted(groups)) or 'none'}"
        _tell(f"error: --staff {staff or 'plan'}: group {unknown[0]!r} is not a group of the policy ({hint})")
        raise typer.Exit(EXIT_USAGE)


def _note_unknown_agents(plan: Any, staff: Optional[Path], policies: list[ir.Policy]) -> None:
    """A note for each agent the plan names that the policies do not declare, when they declare some: present
    and taking consumers all the same (as an agent of the log), but a misspelt name would leave the real agent
    out without a word."""
    from .names import did_you_mean
    from .whatif.staff import unknown_agents
    declared = {agent.name for policy in policies for agent in policy.shop.agents} | \
        {ref.name for policy in policies for group in policy.shop.groups for ref in group.agents}
    if not declared:
        return
    for name in unknown_agents(plan, declared):
        hint = did_you_mean(name, sorted(declared))
        _tell(f"note: --staff {staff or 'plan'}: agent {name!r} is not an agent of the policy"
              f"{f' ({hint})' if hint else ''}; present as the plan says, it takes consumers as an agent of the "
              "log the policy does not name does")


def _model_mismatch(model: Path | str | None, err: Exception) -> None:
    """Exit 2: the agent model has no entry for a shop of the log."""
    _tell(f"error: --model {model}: {err}: calibrate a model on the log (kefu calibrate LOG --out FILE)")
    raise typer.Exit(EXIT_USAGE)


def _model_of_log(files: list[str], policy: ir.Policy, shop: Optional[str]) -> Any:
    """The agent model calibrated on the log itself (kefu compare without --model), said on stderr."""
    from .events import ReadStats, Vocabulary
    from .logset import read_merged
    from .runtime.clock import policy_timezone
    from .whatif.calibrate import calibrate_events
    stats = ReadStats()
    _, merged = read_merged(files, vocabulary=Vocabulary.of_platform(policy.platform))
    model, _ = calibrate_events(merged, log_name=", ".join(files),
                                timezone=policy_timezone(policy), stats=stats, platform=policy.platform.name, shop=shop)
    _tell("note: --agents model with no --model: the agents answer as a model calibrated on --events itself "
          "(kefu calibrate LOG --out agents.yaml keeps it to read and edit)")
    return model


def _actor(agents: AgentsKind, model: Optional[Path], seed: int, staff: Optional[Path] = None) -> Any:
    """Who answers in a replay: None for the log's people, else the model actor of --model (and --staff);
    exit 2 when --model is missing, unreadable or not a model, or a plan is bad."""
    if agents is AgentsKind.log:
        _refuse_model_options(model, staff)
        return None
    if model is None:
        _tell("error: --agents model needs the agent model: --model agents.yaml (written by kefu calibrate LOG)")
        raise typer.Exit(EXIT_USAGE)
    from .whatif.actor import ModelActor
    return ModelActor(_load_model(model), seed, _load_plan(staff))


def _refuse_model_options(model: Optional[Path], staff: Optional[Path]) -> None:
    """Exit 2 when --model or --staff is given to a replay whose agents are the log's."""
    if model is not None or staff is not None:
        _tell(f"error: {'--model' if model is not None else '--staff'} is for --agents model: the log's agents "
              "answer as they did")
        raise typer.Exit(EXIT_USAGE)


def _tell_stand_ins(model: Path | str | None, agent_model: Any, shops: Iterable[Optional[str]]) -> None:
    """A note for each shop the agent model has no entry of and whose agents its one shop played (a model of one
    shop answers for any: said, so that another shop's model given by mistake is seen)."""
    from .replay import NO_SHOP
    from .whatif.model import stand_ins
    for shop, model_shop in stand_ins(agent_model, shops):
        if (shop or NO_SHOP) == (model_shop or NO_SHOP):
            continue
        _tell(f'note: --model {model} has no shop "{shop or NO_SHOP}": its one shop "{model_shop or NO_SHOP}" '
              f"answered for it (to give a shop its own: kefu calibrate LOG --shop ID --out FILE)")


def _load_model(model: Path) -> Any:
    """The agent model of --model, or exit 2 saying why it cannot be read."""
    from .whatif.model import ModelError, load_model
    try:
        return load_model(model)
    except OSError as err:
        _tell(f"error: cannot read the agent model {model}: {err.strerror or err}")
    except ModelError as err:
        _tell(f"error: {err}")
    raise typer.Exit(EXIT_USAGE)


def _load_plan(staff: Optional[Path]) -> Any:
    """The staffing plan of --staff (None without it), or exit 2 saying what is wrong with it."""
    if staff is None:
        return None
    from .whatif.staff import StaffError, load_plan
    try:
        return load_plan(staff)
    except StaffError as err:
        _tell(f"error: --staff {err}")
        raise typer.Exit(EXIT_USAGE)


class BreakdownKind(str, Enum):
    agent = "agent"
    hour = "hour"


MAX_REJECTS_SHOWN = 100
SEED_MIN, SEED_MAX = 0, (1 << 64) - 1
"""The seeds a replay takes: the report carries the seed, and JSON numbers are written up to 64 bits. A negative
seed is refused: Python's random.Random(-n) is random.Random(n), so it would repeat the positive one."""


def _tell(message: str) -> None:
    """A message on stderr, with what a path, policy or log put in it shown, not acted on by the terminal."""
    typer.echo(visible(message), err=True)


def _replay_policy(policy: Optional[Path], platform: Optional[str], platform_dir: list[Path]):
    """The policy to replay, its display name and the files read for it (LoadResult.inputs), or exits with
    diagnostics (1) or usage (2)."""
    if (policy is None) == (platform is None):
        _tell("error: give a POLICY file or --platform NAME (one of them)")
        raise typer.Exit(EXIT_USAGE)
    loader = _loader(platform_dir)
    if platform is not None:
        found, hint = loader.find_platform(platform)
        if found is None:
            _tell(f"error: unknown platform {platform!r} ({hint})")
            raise typer.Exit(EXIT_USAGE)
        result = loader.load_platform_file(found, platform)
        if not result.ok:
            _print_diagnostics(result.diagnostics, result.sources, OutputFormat.text, [platform])
            raise typer.Exit(_exit_code(result.diagnostics, False) or EXIT_ERRORS)
        from .runtime import platform_policy
        assert result.platform is not None  # ok: the file was read as a platform file (load_platform_file)
        return platform_policy(result.platform), None, result.inputs
    assert policy is not None  # exactly one of policy and platform is given (checked above)
    result = _load_one(policy, platform_dir)
    if result.policy is None:
        diags = result.diagnostics or [error("E030", f"{policy}: not a shop policy", None,
                                             'a replay needs a policy that starts with `shop "name" on PLATFORM`')]
        _print_diagnostics(diags, result.sources, OutputFormat.text, [str(policy)])
        raise typer.Exit(_exit_code(diags, False) or EXIT_ERRORS)
    return result.policy, loader.display_of(policy), result.inputs


@app.command()
def replay(
    policy: Optional[Path] = typer.Argument(None, help="Shop policy to replay (omit with --platform)."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Replay the platform file alone: its metrics and defaults, no shop automation."),
    events: List[str] = typer.Option(..., "--events", "-e", help="Event log: JSON Lines file, or - for stdin; gzip is read by its first bytes (.gz, or piped). Repeat it, or give a directory or a quoted glob, to read several logs merged in time (docs/scale.md)."),
    decisions: Optional[Path] = typer.Option(None, "--decisions", help="Write every decision as JSON Lines here (- for standard output, with --report FILE)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the report here instead of stdout."),
    format: Optional[ReportFormat] = typer.Option(None, "--format", "-f", help="Report format: text, json, or html (a page with charts, to a --report FILE; pip install 'kefu[html]'). Default: by the --report FILE's suffix, .json or .html, else text."),
    seed: int = typer.Option(0, "--seed", min=SEED_MIN, max=SEED_MAX,
                             help="Seed for random tie-breaks (same seed, same output): 0 to 2^64-1; a negative seed is refused (-n would repeat n)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad event line (exit 1)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
    by: List[BreakdownKind] = typer.Option([], "--by", help="Add a breakdown table to the report: agent, hour (repeatable)."),
    shop: Optional[str] = typer.Option(None, "--shop", help="Replay only this shop's events (the log's `shop` id); other shops' events are counted as skipped. Without it, a shop policy stops at another shop's event (exit 2)."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="--events is a desk's export: import it by this mapping first (docs/import.md)."),
    policies: Optional[Path] = typer.Option(None, "--policies", help="A directory of shop policies: each shop's events go through the policy whose header names it (docs/scale.md)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Replay the shops in N processes on this machine (same output as one; default 1), or --runs over N (default: every core)."),
    dask: Optional[str] = typer.Option(None, "--dask", help="Replay the shops on Dask: `local` (a local cluster of --jobs workers) or tcp://SCHEDULER (pip install 'kefu[dask]')."),
    agents: AgentsKind = typer.Option(AgentsKind.log, "--agents", help="Who answers: `log` (the log's people, as they did) or `model` (agents answer as the --model file says: the what-if replay, docs/whatif.md)."),
    model: Optional[Path] = typer.Option(None, "--model", help="The agent model for --agents model (written by kefu calibrate)."),
    staff: Optional[Path] = typer.Option(None, "--staff", help="With --agents model: who is present, by shift (a staffing plan, docs/whatif.md), instead of or besides the log's agents."),
    runs: int = typer.Option(1, "--runs", min=1, help="Replay N times with seeds S, S+1, …: the report adds each metric's mean and 95 % interval (runs spread over --jobs processes); decisions are the first run's."),
) -> None:
    """Replay an event log through a policy: decisions and a compliance report.

    Exit codes: 0 replayed, 1 policy errors (two policies for one shop under --policies), a bad line with
    --strict, or a log of which no line is an event, 2 usage or I/O error (another shop's event with a shop
    policy and no --shop; --events naming no log or a log twice; an unreachable --dask scheduler; a bad
    --model or --staff), 130 interrupted (143 on SIGTERM). On any exit but 0 no output file is written or
    changed. Bad event lines are reported on stderr with their file and line number, counted, and skipped.
    Many logs, many shops, --jobs and --dask: docs/scale.md; --agents model: docs/whatif.md.
    """
    from .events import StrictError, open_log, standard_stream
    from .replay import OtherShopError, replay as run_replay, report_dict
    from .whatif.model import ModelMismatch

    files = _log_files(events, mapping)
    actor = _actor(agents, model, seed, staff)
    report_format = format or _format_of(report)
    if report_format is ReportFormat.html:
        _require_html(report)
        by = [*by, BreakdownKind.hour, BreakdownKind.agent]   # the page charts both
    render = _renderer(report_format)
    if policies is not None and mapping is not None:
        _tell("error: --mapping imports one export for one policy: with --policies, import it first "
              "(kefu import EXPORT --mapping M --out LOG) and replay the log")
        raise typer.Exit(EXIT_USAGE)
    if policies is not None or (platform is not None and policy is None and mapping is None):
        if runs > 1:
            _tell("error: --runs repeats the replay of one shop policy (POLICY); --platform and --policies "
                  "replays are run once")
            raise typer.Exit(EXIT_USAGE)
        from .fleetcli import replay_shops
        replay_shops(policies=policies, platform=platform, policy=policy, files=files, decisions=decisions,
                     report=report, render=render, seed=seed, strict=strict, platform_dir=platform_dir,
                     by=[kind.value for kind in by], shop=shop, jobs=jobs or 1, dask=dask, actor=actor,
                     model=model, staff=staff, read_too=_model_inputs(model, staff))
        return
    if dask is not None or (jobs is not None and jobs > 1 and runs == 1):
        _tell("note: a shop policy replays one shop: --jobs and --dask split shops, so it runs in this process")
    if runs > 1 and (mapping is not None or "-" in files):
        _tell("error: --runs reads the log once a run: give it as files (not standard input or --mapping; "
              "kefu import writes an export as a log)")
        raise typer.Exit(EXIT_USAGE)
    if runs > 1 and seed + runs - 1 > SEED_MAX:
        _tell(f"error: --runs {runs} from --seed {seed} goes past the largest seed ({SEED_MAX})")
        raise typer.Exit(EXIT_USAGE)
    log = _log_label(files)
    resolved, policy_file, inputs = _replay_policy(policy, platform, platform_dir)
    _check_plan(actor.staff if actor is not None else None, staff, [resolved])
    rejects = _Rejections(log)
    to_stdout = decisions is not None and str(decisions) == "-"
    if to_stdout and report is None:
        _tell("error: --decisions - writes the decisions to standard output: give the report a file with --report")
        raise typer.Exit(EXIT_USAGE)
    _refuse_overwriting({"--decisions": None if to_stdout else decisions, "--report": report}, files,
                        inputs + _model_inputs(model, staff))
    try:
        if len(files) > 1:
            from .logset import OpenLogs
            stream: Any = OpenLogs(files)
        else:
            stream = open_log(log) if mapping is None else _imported(Path(log), mapping)
    except OSError as err:
        _tell(f"error: cannot read events {err.filename or log}: {err.strerror or err}")
        raise typer.Exit(EXIT_USAGE)
    with PendingOutputs() as outputs:   # every output not committed at the end is discarded
        written = _open_outputs(outputs, {"decisions": None if to_stdout else decisions, "report": report}, stream)
        decisions_out = _Decisions(standard_stream("stdout") if to_stdout else written["decisions"]) \
            if decisions is not None else None
        try:
            with stream, _progress(log) as tick:
                result = run_replay(resolved, stream, seed=seed, automation=platform is None, decisions_out=decisions_out,
                                    on_reject=rejects, strict=strict, policy_file=policy_file, progress=tick,
                                    by=[kind.value for kind in by], shop=shop, actor=actor)
            if decisions_out is not None:
                decisions_out.finish()
        except StrictError as err:
            _tell(f"stopped at the first bad line (--strict): {err.rejected.file or rejects.label}:{err.rejected.line}: "
                  f"{err.rejected.reason}")
            raise typer.Exit(EXIT_ERRORS)
        except OtherShopError as err:
            _tell(f'error: {err.file or rejects.label}:{err.line}: an event of shop "{err.shop}", but the policy is for shop '
                  f'"{err.policy_shop}": the log holds other shops\' events; replay one shop with --shop ID '
                  "(the others are skipped)")
            raise typer.Exit(EXIT_USAGE)
        except ModelMismatch as err:
            _model_mismatch(model, err)
        except _WriteError as err:
            _tell(f"error: cannot write decisions {decisions}: {err.reason}")
            raise typer.Exit(EXIT_USAGE)
        except (OSError, EOFError, zlib.error) as err:   # a corrupt or cut .gz log among them
            _tell(f"error: cannot read events {getattr(err, 'filename', None) or log}: {getattr(err, 'strerror', None) or err}")
            raise typer.Exit(EXIT_USAGE)
        rejects.summarise()
        _tell_other_shops(rejects.label, result.skipped, result.other_shops, shop)
        _refuse_a_log_without_events(log, result.stats, rejects.first)
        data = report_dict(result)
        if actor is not None:
            _tell_stand_ins(model, actor.model, (day["shop"] for day in data["days"]))
        if runs > 1:
            from .whatif.runs import more_runs, summarise
            seeds = list(range(seed, seed + runs))
            others = more_runs(resolved, files, seeds[1:], actor.model if actor is not None else None,
                               tuple(kind.value for kind in by), shop, jobs or os.cpu_count() or 1,
                               actor.staff if actor is not None else None)
            data["runs"] = summarise([data, *others], seeds)
        body = render(data)
        _commit_report(outputs, written, report, body)
    if report is None:
        _print_body(body)


@app.command("compare")
def compare_command(
    policy_a: Path = typer.Argument(..., metavar="A.kefu", help="The shop policy as it is (A)."),
    policy_b: Path = typer.Argument(..., metavar="B.kefu", help="The changed policy (B): the same shop and platform."),
    events: List[str] = typer.Option(..., "--events", "-e", help="Event log(s), as for replay: a file, repeated, a directory or a quoted glob (merged in time). Not - : the log is read once per run and policy."),
    shop: Optional[str] = typer.Option(None, "--shop", help="Replay only this shop's events, as for replay."),
    seed: int = typer.Option(0, "--seed", min=SEED_MIN, max=SEED_MAX, help="Seed of the first run: run i uses seed+i for both A and B."),
    runs: int = typer.Option(1, "--runs", min=1, max=1000, help="Runs of A and B (the difference's mean and 95% interval are over the runs)."),
    agents: AgentsKind = typer.Option(AgentsKind.model, "--agents", help="Who answers: model (agents answer as --model says, or a model calibrated on the log itself; the default) or log (the log's people, as they did)."),
    model: Optional[Path] = typer.Option(None, "--model", help="The agent model for --agents model (kefu calibrate); default: calibrated on --events."),
    staff: Optional[Path] = typer.Option(None, "--staff", help="With --agents model: who is present, by shift (docs/whatif.md)."),
    format: Optional[ReportFormat] = typer.Option(None, "--format", "-f", help="text, json, or html (a page with charts, to a --report FILE; pip install 'kefu[html]'). Default: by the --report FILE's suffix, else text."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the comparison here instead of stdout."),
    by: List[BreakdownKind] = typer.Option([], "--by", help="Add a table comparing A and B: agent (load, occupancy), hour (rate per hour); repeatable."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Compare two versions of a shop policy on one log: each metric under A and B per day, the difference
    of rate (B − A), and what the change did (routing, queue, waits, automatic replies, load) (docs/compare.md).

    Exit codes: 0 compared, 1 policy errors or a log of which no line is an event, 2 usage or I/O error
    (also A and B for different shops or platforms, another shop's event without --shop).
    """
    from .replay import OtherShopError
    from .whatif.compare import Side, compare, compare_dict, log_replay
    from .whatif.model import ModelMismatch
    from .whatif.compare_output import compare_json, render_html, render_text as render_compare_text, shown

    files = _log_files(events, None)
    if "-" in files:
        _tell("error: kefu compare reads the log once per policy and run: give --events a file, not standard input")
        raise typer.Exit(EXIT_USAGE)
    report_format = format or _format_of(report)
    if report_format is ReportFormat.html:
        _require_html(report)
    resolved_a, file_a, inputs_a = _replay_policy(policy_a, None, platform_dir)
    resolved_b, file_b, inputs_b = _replay_policy(policy_b, None, platform_dir)
    if (resolved_a.shop.name, resolved_a.platform.name) != (resolved_b.shop.name, resolved_b.platform.name):
        _tell(f'error: A and B must be policies of one shop on one platform: A is shop "{resolved_a.shop.name}" on '
              f'{resolved_a.platform.name} ({file_a}), B is shop "{resolved_b.shop.name}" on '
              f'{resolved_b.platform.name} ({file_b})')
        raise typer.Exit(EXIT_USAGE)
    _refuse_overwriting({"--report": report}, files, [*inputs_a, *inputs_b, *_model_inputs(model, staff)])
    log = _log_label(files)
    _refuse_a_log_without_events_up_front(files, log, resolved_a)
    rejects = _Rejections(log)
    runner = log_replay(rejects)
    if agents is AgentsKind.model:
        plan = _load_plan(staff)
        _check_plan(plan, staff, [resolved_a, resolved_b])
        agent_model = _load_model(model) if model is not None else None   # else calibrated on the log, below
    else:
        _refuse_model_options(model, staff)
    with PendingOutputs() as outputs:   # opened before the runs: a report that cannot be written fails first
        written = _open_outputs(outputs, {"report": report}, _NO_STREAM)
        try:
            if agents is AgentsKind.model:
                from .whatif.compare import model_replay
                runner = model_replay(agent_model or _model_of_log(files, resolved_a, shop), plan, rejects)
            result = compare(Side(resolved_a, file_a), Side(resolved_b, file_b), files, seed=seed, runs=runs,
                             runner=runner, shop=shop, agents=agents.value)
        except OtherShopError as err:
            _tell(f'error: {err.file or log}:{err.line}: an event of shop "{err.shop}", but the policies are for shop '
                  f'"{err.policy_shop}": compare one shop with --shop ID (the others are skipped)')
            raise typer.Exit(EXIT_USAGE)
        except ModelMismatch as err:
            _model_mismatch(model or "(calibrated on --events)", err)
        except (OSError, EOFError, zlib.error) as err:
            _tell(f"error: cannot read events {getattr(err, 'filename', None) or log}: {getattr(err, 'strerror', None) or err}")
            raise typer.Exit(EXIT_USAGE)
        rejects.summarise()
        if agents is AgentsKind.model and agent_model is not None:
            _tell_stand_ins(model, agent_model, (day["shop"] for day in result.runs_a[0].report["days"]))
        data = compare_dict(result)
        if report_format is ReportFormat.html:
            body = render_html(data)
        elif report_format is ReportFormat.json:
            body = compare_json(shown(data, [kind.value for kind in by]))
        else:
            body = render_compare_text(shown(data, [kind.value for kind in by])).encode("utf-8")
        if report is None:
            _print_body(body)
            return
        _commit_report(outputs, written, report, body)


def _commit_report(outputs: PendingOutputs, written: dict[str, BinaryIO], report: Optional[Path], body: bytes) -> None:
    """The report written to its file (if it has one) and every output committed; exit 2 if one cannot be."""
    _commit(outputs, written["report"] if report is not None else None, body)


def _commit(outputs: PendingOutputs, target: Optional[BinaryIO], body: bytes) -> None:
    """body written to an output opened by `outputs` (none: written elsewhere), then every output committed;
    exit 2 naming the output that cannot be written."""
    try:
        if target is not None:
            target.write(body)
        outputs.commit()
    except OutputFailed as err:   # the output that failed, which need not be this one
        _tell(f"error: cannot write {err.output.what} {err.output.path}: {err.reason}")
        raise typer.Exit(EXIT_USAGE)


def _print_body(body: bytes) -> None:
    """The report on standard output."""
    from .events import standard_stream
    stdout = standard_stream("stdout")
    stdout.write(body)
    stdout.flush()


class _NoStream:
    """What _open_outputs closes when an output cannot be opened and no log is open yet."""

    def close(self) -> None:
        """Nothing to close."""


_NO_STREAM = _NoStream()


def _open_outputs(outputs: PendingOutputs, paths: dict[str, Optional[Path]], stream) -> dict[str, BinaryIO]:
    """Each output file opened (its temporary file created) before the replay starts, by what it holds; exit 2
    naming the first that cannot be written."""
    opened = {}
    for what, path in paths.items():
        if path is None:
            continue
        try:
            opened[what] = outputs.open(path, what)
        except OSError as err:
            stream.close()
            _tell(f"error: cannot write {what} {path}: {err.strerror or err}")
            raise typer.Exit(EXIT_USAGE)
    return opened


def _format_of(report: Optional[Path]) -> ReportFormat:
    """The report's format when --format is not given: JSON for a --report file named *.json, HTML for *.html
    or *.htm, else text."""
    suffix = report.suffix.lower() if report is not None else ""
    by_suffix = {".json": ReportFormat.json, ".html": ReportFormat.html, ".htm": ReportFormat.html}
    return by_suffix.get(suffix, ReportFormat.text)


def _renderer(report_format: ReportFormat) -> Callable[[dict], bytes]:
    """How the report dict becomes the bytes written: text, JSON or the HTML page."""
    from .replay import render_text, report_json
    if report_format is ReportFormat.html:
        from .reports.html import render_html
        return render_html
    if report_format is ReportFormat.json:
        return report_json
    return lambda data: render_text(data).encode("utf-8")


def _require_html(report: Optional[Path]) -> None:
    """--format html needs a --report FILE (the page is a file to open) and the kefu[html] extra; else exit 2."""
    if report is None:
        _tell("error: --format html writes a page to open in a browser: give its file with --report FILE.html")
        raise typer.Exit(EXIT_USAGE)
    from .reports.html import RendererMissing, require_renderer
    try:
        require_renderer()
    except RendererMissing as err:
        _tell(str(err))
        raise typer.Exit(EXIT_USAGE)


def _model_inputs(model: Optional[Path], staff: Optional[Path]) -> list[tuple[str, Path]]:
    """The agent model and the staffing plan a what-if run reads, as inputs no output may replace."""
    return [(what, path) for what, path in (("the agent model", model), ("the staffing plan", staff)) if path is not None]


def _refuse_overwriting(outputs: dict[str, Optional[Path]], events: list[str], inputs: list[tuple[str, Path]]) -> None:
    """Exit 2 when an output names a file the run reads (a log, also on standard input; the policy, its
    snippets, its platform file) or another output: writing it would replace that file."""
    from .logset import is_url
    logs = [stdin_file() if log == "-" else Path(log) for log in events if not is_url(log)]
    clash = overwritten_input(outputs, [*(("the log", log) for log in logs), *inputs])
    if clash is None:
        return
    output, path, other = clash
    if other.startswith("--"):   # two outputs
        _tell(f"error: {output} {path} is {other} too: give each its own file")
    else:
        _tell(f"error: {output} {path} is {other}: writing it would erase {other}")
    raise typer.Exit(EXIT_USAGE)


def _refuse_a_log_without_events(events: str, stats: ReadStats, first: Optional[Rejected]) -> None:
    """Exit 1 when lines were read and none of them is an event (a CSV given by mistake, say); an empty log
    is replayed (nothing happened) with a note."""
    name = "standard input" if events == "-" else events
    if stats.read == 0:
        _tell(f"note: {name} has no event lines: nothing was replayed")
    elif stats.accepted == 0:
        _tell(f"error: {name} does not look like a kefu event log (0 of {stats.read} lines accepted; "
              f"first rejection: {first})")
        raise typer.Exit(EXIT_ERRORS)


def _refuse_a_log_without_events_up_front(files: list[str], label: str, policy: ir.Policy) -> None:
    """_refuse_a_log_without_events before a command that reads the log many times (compare: two policies,
    every run) reads it once: the log is read to its first event, or to its end when it has none."""
    from .events import Vocabulary
    from .logset import read_merged, total
    first: list[Rejected] = []

    def keep_first(_: int, rejected: Rejected) -> None:
        if not first:
            first.append(rejected)

    try:
        reads, merged = read_merged(files, vocabulary=Vocabulary.of_platform(policy.platform), on_reject=keep_first)
        for _ in merged:
            merged.close()   # type: ignore[attr-defined]   # a generator: closing it closes the files
            return
    except (OSError, EOFError, zlib.error) as err:
        _tell(f"error: cannot read events {getattr(err, 'filename', None) or label}: {getattr(err, 'strerror', None) or err}")
        raise typer.Exit(EXIT_USAGE)
    _refuse_a_log_without_events(label, total(reads), first[0] if first else None)


def _log_label(files: list[str]) -> str:
    """How messages name the logs read: the file, or how many."""
    return files[0] if len(files) == 1 else f"{len(files)} logs"


def _log_files(events: list[str], mapping: Optional[Path]) -> list[str]:
    """The log files --events names (engine/logset.py), or exit 2 saying why there are none."""
    from .logset import LogSpecError, expand
    try:
        files = expand(events)
    except LogSpecError as err:
        _tell(f"error: --events {err}")
        raise typer.Exit(EXIT_USAGE)
    if mapping is not None and len(files) > 1:
        _tell("error: --mapping imports one export: give --events one file")
        raise typer.Exit(EXIT_USAGE)
    if "-" in files and len(files) > 1:
        _tell("error: --events - (standard input) cannot be read together with other logs")
        raise typer.Exit(EXIT_USAGE)
    return files


def _tell_other_shops(label: str, skipped: int, others: Iterable[str], shop: Optional[str]) -> None:
    """Say how many events of other shops than --shop were skipped, naming the first SHOPS_NAMED (others
    holds up to one more, so that "…" says there were more)."""
    if not skipped:
        return
    from .replay import SHOPS_NAMED
    others = list(others)
    named = ", ".join(f'"{other}"' for other in others[:SHOPS_NAMED])
    more = ", …" if len(others) > SHOPS_NAMED else ""
    _tell(f'{label}: {skipped} event{"s" if skipped != 1 else ""} of other shops than "{shop}" skipped '
          f'(shops {named}{more})')


class _Rejections:
    """The reader's rejections: the first MAX_REJECTS_SHOWN printed on stderr, all counted, the first kept."""

    def __init__(self, events: str):
        self.label = events
        self.count = 0
        self.first: Optional[Rejected] = None

    def __call__(self, rejected: Rejected) -> None:
        self.count += 1
        if self.first is None:
            self.first = rejected
        if self.count <= MAX_REJECTS_SHOWN:
            _tell(f"{rejected.file or self.label}:{rejected.line}: rejected: {rejected.reason}")

    def summarise(self) -> None:
        """How many were not shown, if any."""
        if self.count > MAX_REJECTS_SHOWN:
            _tell(f"{self.label}: {self.count - MAX_REJECTS_SHOWN} more rejected lines not shown")


class _WriteError(Exception):
    """Writing the decisions failed (a full disk, say); reason is the OS's."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Decisions:
    """The decisions file, telling its write errors apart from the log's read errors."""

    def __init__(self, out):
        self.out = out

    def write(self, data: bytes) -> int:
        try:
            return self.out.write(data)
        except OSError as err:
            raise _WriteError(err.strerror or str(err)) from None

    def finish(self) -> None:
        """Flush what is buffered."""
        try:
            self.out.flush()
        except OSError as err:
            raise _WriteError(err.strerror or str(err)) from None


class _progress:
    """A rich progress line on stderr while replaying, only when stderr is a terminal (or on the console given)."""

    def __init__(self, label: str, console=None):
        self.label = label
        self.console = console
        self.bar = None

    def __enter__(self):
        if self.console is None and not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("replaying {task.fields[label]}: {task.completed:,} events"),
                            TimeElapsedColumn(), transient=True, console=self.console or Console(stderr=True))
        self.bar.__enter__()
        # the label is taken as markup (a path with `[/]` in it would end in an error) and is from the user
        task = self.bar.add_task("replay", total=None, label=escape(visible(self.label)))
        return lambda n: self.bar.update(task, completed=n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


@app.command()
def generate(
    policy: Path = typer.Argument(..., help="Shop policy whose agents, pages, products and keywords the log uses."),
    out: str = typer.Option("-", "--out", "-o", help="Output file (.jsonl, .jsonl.gz) or - for stdout."),
    day: str = typer.Option("2026-11-11", "--day", help="First local day (YYYY-MM-DD)."),
    days: int = typer.Option(1, "--days", help="Number of days."),
    consumers: int = typer.Option(300, "--consumers", help="Distinct consumers per day."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed, 0 or more (same seed, same bytes)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Write a realistic synthetic event log for a shop policy (peaks, breaks, cards, transfers).

    Exit codes: 0 written, 1 policy errors or no agent who can chat, 2 usage or I/O error.
    """
    from .synth import generate_command

    _loader(platform_dir)   # a --platform-dir that is not a directory is a usage error
    raise typer.Exit(generate_command(policy, out, day, days, consumers, seed, platform_dirs=platform_dir))


@app.command("calibrate")
def calibrate_command(
    log: str = typer.Argument(..., help="Event log: JSON Lines file, or - for stdin; gzip is read by its first bytes. With --mapping: a desk's export."),
    out: Path = typer.Option(..., "--out", "-o", help="The agent model to write (YAML)."),
    shop: Optional[str] = typer.Option(None, "--shop", help="Calibrate only this shop's events (and those naming none); other shops' events are counted as skipped."),
    platform: Optional[str] = typer.Option(None, "--platform", help="The log's platform: the pages and senders its lines may name, and the time zone of the hours of day (default: the shipped platforms' names, Asia/Shanghai)."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="LOG is a desk's export: import it by this mapping first (docs/import.md)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Calibrate a model of the agents on a log: reply delays by load, session ends, presence, patience (docs/whatif.md).

    Exit codes: 0 written, 1 platform or mapping errors, or a log of which no line is an event, 2 usage or
    I/O error (also an --out that names the log, the mapping or the platform file), 130 interrupted (143 on
    SIGTERM). On any exit but 0 --out is not written or changed. Bad event lines are reported on stderr with
    their line number, counted, and skipped.
    """
    from .events import ReadStats, Vocabulary, open_log
    from .runtime.clock import DEFAULT_TIMEZONE, policy_timezone
    from .whatif.calibrate import calibrate_stream
    from .whatif.model import dump_model

    vocabulary: Optional[Vocabulary] = None
    zone, inputs = DEFAULT_TIMEZONE, []
    if platform is not None:
        resolved, _, inputs = _replay_policy(None, platform, platform_dir)
        vocabulary, zone = Vocabulary.of_platform(resolved.platform), policy_timezone(resolved)
    _refuse_overwriting({"--out": out}, [log], inputs + ([("the mapping", mapping)] if mapping is not None else []))
    rejects = _Rejections(log)
    try:
        stream = open_log(log) if mapping is None else _imported(Path(log), mapping)
    except OSError as err:
        _tell(f"error: cannot read events {log}: {err.strerror or err}")
        raise typer.Exit(EXIT_USAGE)
    with PendingOutputs() as outputs:   # the model appears whole, or the old file stays as it was
        target = _open_outputs(outputs, {"model": out}, stream)["model"]
        stats = ReadStats()
        try:
            with stream:
                model, found = calibrate_stream(stream, log_name=log, timezone=zone, stats=stats, on_reject=rejects,
                                                vocabulary=vocabulary, platform=platform, shop=shop)
        except (OSError, EOFError, zlib.error) as err:   # a corrupt or cut .gz log among them
            _tell(f"error: cannot read events {log}: {err}")
            raise typer.Exit(EXIT_USAGE)
        rejects.summarise()
        _tell_other_shops(rejects.label, found.skipped, list(found.other_shops), shop)
        if stats.read == 0:
            _tell(f"note: {'standard input' if log == '-' else log} has no event lines: the model has no shop")
        else:
            _refuse_a_log_without_events(log, stats, rejects.first)
        if shop is not None and not model.shops and stats.read:
            _tell(f'note: {rejects.label} has no events of shop "{shop}": the model has no shop')
        _commit(outputs, target, dump_model(model))
    agents = sum(len(entry.agents) for entry in model.shops)
    _tell(f"{rejects.label}: {stats.read} lines read = {stats.accepted} accepted + {stats.rejected} rejected; "
          f"{len(model.shops)} shop{'s' if len(model.shops) != 1 else ''}, {agents} agent{'s' if agents != 1 else ''} "
          f"calibrated: wrote {out}")


class SchemaName(str, Enum):
    ir = "ir"
    report = "report"
    decision = "decision"
    mapping = "mapping"
    compare = "compare"


@app.command()
def schema(
    name: SchemaName = typer.Argument(SchemaName.ir, help="ir (resolved policy), report (replay report), decision (one decision record), mapping (kefu import) or compare (kefu compare's JSON)."),
) -> None:
    """Print a JSON Schema: the policy IR, the replay report, a decision record, an import mapping, or the output
    of kefu compare."""
    from .interface import SCHEMAS

    if name is SchemaName.mapping:
        from .importer import MAPPING_SCHEMA
        typer.echo(json.dumps(MAPPING_SCHEMA, indent=2, ensure_ascii=False))
        return
    model = ir.Policy if name is SchemaName.ir else SCHEMAS[name.value]
    typer.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


@app.command("fmt")
def fmt_command(
    paths: List[Path] = typer.Argument(None, help="Policy files, or directories (every *.kefu under them); default: ."),
    check_only: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when a file is not in canonical layout."),
    diff: bool = typer.Option(False, "--diff", help="Write nothing; print the changes as a unified diff."),
) -> None:
    """Lay policy files out in the one canonical layout, comments kept (docs/language.md, Layout).

    Exit codes: 0 every file formatted (or already was), 1 with --check or --diff a file would
    change, or a file cannot be formatted (syntax errors), 2 usage or I/O error.
    """
    import difflib

    from .diagnostics import visible
    from .fmt import FormatError, format_text
    from .source import SourceError, read_policy

    files, problems = _policy_files(list(paths or [Path(".")]))
    sources: dict[str, SourceFile] = {}
    if problems:
        _print_diagnostics(problems, sources, OutputFormat.text, [])
        raise typer.Exit(EXIT_USAGE)
    changed = failed = 0
    for path in files:
        shown = path.as_posix()
        try:
            src = read_policy(path, shown)
            formatted = format_text(src.text, shown)
        except SourceError as err:
            typer.echo(f"error: {visible(shown)}: {err.message}", err=True)
            failed += 1
            continue
        except FormatError as err:
            typer.echo(f"error: {visible(shown)}: cannot format: {err}", err=True)
            if err.diagnostics:   # where it goes wrong, as kefu check says it
                _print_diagnostics(err.diagnostics, {shown: src}, OutputFormat.text, [shown])
            failed += 1
            continue
        if formatted == src.text:
            continue
        changed += 1
        if diff:
            lines = difflib.unified_diff(src.text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                                         shown, f"{shown} (formatted)")
            sys.stdout.write("".join(visible(line.rstrip("\n")) + "\n" for line in lines))
        elif check_only:
            typer.echo(f"would reformat {visible(shown)}")
        else:
            _write_file(path, formatted.encode("utf-8"))
            typer.echo(f"formatted {visible(shown)}")
    if failed:
        raise typer.Exit(EXIT_ERRORS)
    raise typer.Exit(EXIT_ERRORS if changed and (check_only or diff) else EXIT_OK)


def _write_file(path: Path, data: bytes) -> None:
    """Replace a file's content whole, or exit 2 saying why it could not be written."""
    try:
        write_whole(path, data)
    except OutputFailed as err:
        _tell(f"error: cannot write {path}: {err.reason}")
        raise typer.Exit(EXIT_USAGE)


@app.command("lsp")
def lsp_command(
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Run the language server on standard input and output (for editors): diagnostics, completion, hover.

    Needs the `lsp` extra: pip install 'kefu[lsp]'. Exit codes: 0 when the editor ends it, 2 when
    the extra is not installed.
    """
    try:
        from .lsp import make_server
    except ImportError as err:
        typer.echo(f"error: kefu lsp needs pygls ({err.name} is missing): pip install 'kefu[lsp]'", err=True)
        raise typer.Exit(EXIT_USAGE)
    make_server(platform_dir).start_io()


@app.command("explain")
def explain_command(
    policy: Optional[Path] = typer.Argument(None, help="Shop policy (omit with --platform)."),
    events: str = typer.Option(..., "--events", "-e", help="Event log: JSON Lines file, or - for stdin (gzip is read by its first bytes)."),
    line: Optional[int] = typer.Option(None, "--line", min=1, help="Explain the event on this line of the log."),
    consumer: Optional[str] = typer.Option(None, "--consumer", help="Explain this consumer's whole story."),
    full: bool = typer.Option(False, "--full", help="Every agent's state and every step, not only those that acted."),
    format: PlainFormat = typer.Option(PlainFormat.text, "--format", "-f", help="Output format: text or json."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Explain the platform file's rules alone."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX, help="Seed for random tie-breaks, as for replay."),
    shop: Optional[str] = typer.Option(None, "--shop", help="Replay only this shop's events, as for replay."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Explain a decision: for one event line or one consumer, the rules the engine considered in order,
    which fired and why the others did not, the state that mattered, and the decisions.

    Exit codes: 0 explained, 1 policy errors, or the line or consumer is not in the log, 2 usage or I/O error.
    """
    from .events import open_log, standard_stream
    from .explain import explain, render_json as render_explain_json, render_text as render_explain_text
    from .replay import OtherShopError

    if (line is None) == (consumer is None):
        _tell("error: give --line N or --consumer ID (one of them)")
        raise typer.Exit(EXIT_USAGE)
    resolved, _, _ = _replay_policy(policy, platform, platform_dir)
    try:
        stream = open_log(events)
    except OSError as err:
        _tell(f"error: cannot read events {events}: {err.strerror or err}")
        raise typer.Exit(EXIT_USAGE)
    try:
        with stream:
            found = explain(resolved, stream, line=line, consumer=consumer, seed=seed, automation=platform is None,
                            shop=shop)
    except OtherShopError as err:
        _tell(f'error: {events}:{err.line}: an event of shop "{err.shop}", but the policy is for shop '
              f'"{err.policy_shop}": give --shop ID')
        raise typer.Exit(EXIT_USAGE)
    except (OSError, EOFError, zlib.error) as err:
        _tell(f"error: cannot read events {events}: {err}")
        raise typer.Exit(EXIT_USAGE)
    if not found.events:
        if line is not None:
            why = (f"it was rejected: {found.rejected[line]}" if line in found.rejected
                   else "it is blank, or past the end of the log")
            _tell(f"error: line {line} of {events} is not an event: {why}")
        else:
            _tell(f"error: consumer {consumer!r} does not appear in {events}")
        raise typer.Exit(EXIT_ERRORS)
    body = render_explain_json(found) if format is PlainFormat.json else render_explain_text(found, full).encode("utf-8")
    stdout = standard_stream("stdout")
    stdout.write(body)
    stdout.flush()


@app.command("import")
def import_command(
    source: Path = typer.Argument(..., help="The export: CSV, Excel (.xlsx), JSON Lines, or JSON."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", "-m", help="The mapping file (YAML): which column gives which event field."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The event log to write (.jsonl, or .jsonl.gz)."),
    guess: bool = typer.Option(False, "--guess", help="Print a starting mapping guessed from the export's columns and first rows."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="The export's encoding (default: the mapping's, else UTF-8 or GB18030 detected)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row (exit 1)."),
) -> None:
    """Import a desk's export into a kefu event log, in time order, by a mapping file (docs/import.md).

    Exit codes: 0 imported, 1 the mapping has errors, names a column the export lacks, or a bad row with
    --strict, 2 usage or I/O error (a file that cannot be read or decoded, an output that cannot be written).
    """
    import itertools

    from .importer import Mapping, guess_mapping, rows

    if guess:
        try:
            header, records = rows(source, Mapping(source.as_posix(), None, None, "auto", None, []), encoding)
            sample = list(itertools.islice(records, 50))
        except (OSError, UnicodeDecodeError, LookupError, ValueError) as err:
            _tell(f"error: cannot read {source.as_posix()}: {err}")
            raise typer.Exit(EXIT_USAGE)
        typer.echo(guess_mapping(header, sample, source.as_posix()), nl=False)
        return
    if mapping is None or out is None:
        _tell("error: give --mapping MAP.yaml and --out LOG (or --guess)")
        raise typer.Exit(EXIT_USAGE)
    _import(source, mapping, out, encoding, strict)


def _imported(source: Path, mapping: Path) -> BinaryIO:
    """An export imported by a mapping and streamed into the replay (replay --mapping): the rows are
    read and sorted into runs on disk first (the sort must see every row), then merged as the replay
    reads; the runs are removed when the stream is closed."""
    stream = _import(source, mapping, None, None, False, into="the replay")
    assert stream is not None
    return stream


class _LinesStream(io.RawIOBase):
    """A binary stream of lines from an iterator, for the event reader; close() removes the runs' directory."""

    def __init__(self, lines: Iterator[bytes], runs: Any):
        self.lines, self.runs, self.left = lines, runs, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.left:
            line = next(self.lines, None)
            if line is None:
                return 0
            self.left = line
        n = min(len(buffer), len(self.left))
        buffer[:n] = self.left[:n]
        self.left = self.left[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self.runs.cleanup()
        super().close()


def _import(source: Path, mapping: Path, out: Optional[Path], encoding: Optional[str], strict: bool,
            into: Optional[str] = None) -> Optional[BinaryIO]:
    """Import an export to a log (kefu import), or to a stream of its lines when out is None (replay
    --mapping), or exit saying why not; into: how the summary names where the events went (default: the
    output file)."""
    import gzip
    import tempfile

    from .importer import ImportStats, MappingError, build_tables, import_rows, load_mapping, missing_columns, rows, sort_events

    try:
        plan = load_mapping(mapping, mapping.as_posix())
    except MappingError as err:
        for text in str(err).splitlines():   # the message, then its hint
            _tell(text)
        raise typer.Exit(EXIT_ERRORS)
    shown = source.as_posix()
    try:
        header, records = rows(source, plan, encoding)
    except (OSError, UnicodeDecodeError, LookupError, ValueError) as err:
        _tell(f"error: cannot read {shown}: {err}")
        raise typer.Exit(EXIT_USAGE)
    lacking = missing_columns(plan, header)
    if lacking:
        for column, at_line, at_col in lacking:
            _tell(f"{plan.file}:{at_line}:{at_col}: error: {shown} has no column {column!r}"
                  + (f" (its columns: {', '.join(header[:20])})" if header else ""))
        raise typer.Exit(EXIT_ERRORS)
    if plan.lookups:   # a first pass over the rows builds the lookups' tables
        try:
            build_tables(plan, rows(source, plan, encoding)[1])
        except (OSError, UnicodeDecodeError, LookupError, ValueError) as err:
            _tell(f"error: cannot read {shown}: {err}")
            raise typer.Exit(EXIT_USAGE)
    shown_bad = {"n": 0}

    def on_bad(row, column, reason) -> None:
        shown_bad["n"] += 1
        if shown_bad["n"] <= MAX_REJECTS_SHOWN:
            _tell(f"{shown}:{row.number}:" + (f" column {column!r}:" if column else "") + f" skipped: {reason}")

    def summarise(stats: ImportStats) -> None:
        if shown_bad["n"] > MAX_REJECTS_SHOWN:
            _tell(f"{shown}: {shown_bad['n'] - MAX_REJECTS_SHOWN} more skipped rows not shown")
        _tell(f"{shown}: {stats.read} rows read = {stats.imported} imported + {stats.skipped} skipped; "
              f"{stats.events} events " + (f"to {into}" if into else f"written to {out}"))

    if out is None:
        runs = tempfile.TemporaryDirectory(prefix="kefu-replay-")
        try:
            stats, lines = sort_events(plan, records, on_bad, False, Path(runs.name))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            runs.cleanup()
            _tell(f"error: cannot import {shown}: {err}")
            raise typer.Exit(EXIT_USAGE)
        summarise(stats)
        return cast(BinaryIO, io.BufferedReader(_LinesStream(lines, runs), buffer_size=1 << 16))
    try:
        with PendingOutputs() as outputs:
            target = outputs.open(out, "log")
            sink = gzip.GzipFile(fileobj=target, mode="wb", mtime=0) if out.name.endswith(".gz") else target
            stats = import_rows(plan, records, sink, on_bad, strict)
            if sink is not target:
                sink.close()
            if strict and stats.skipped:
                _tell("stopped at the first bad row (--strict)")
                raise typer.Exit(EXIT_ERRORS)
            outputs.commit()
    except OutputFailed as err:
        _tell(f"error: cannot write {out}: {err.reason}")
        raise typer.Exit(EXIT_USAGE)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        _tell(f"error: cannot import {shown}: {err}")
        raise typer.Exit(EXIT_USAGE)
    summarise(stats)
    return None


@app.command("init")
def init_command(
    platform: str = typer.Option(..., "--platform", help="The shop's platform (a platform file's name: taobao, pinduoduo, douyin …)."),
    shop: str = typer.Option("my-shop", "--shop", help="The shop's id; also the files' name."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to write SHOP.kefu and SHOP.test.yaml."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Write a commented starter policy for a platform, and a scenario file it passes.

    Exit codes: 0 written, 2 usage or I/O error (unknown platform, a bad shop id, a file that
    exists already: init never overwrites).
    """
    from .diagnostics import visible
    from .starter import SHOP_NAME, starter

    if not SHOP_NAME.fullmatch(shop):
        typer.echo(f"error: shop id {visible(shop)!r} must be letters, digits, '_', '.' or '-' (at most 64), "
                   "starting with a letter or digit: it names the files", err=True)
        raise typer.Exit(EXIT_USAGE)
    loader = _loader(platform_dir)
    found, hint = loader.find_platform(platform)
    if found is None:
        typer.echo(f"error: unknown platform {visible(platform)!r} ({hint})", err=True)
        raise typer.Exit(EXIT_USAGE)
    loaded = loader.load_platform_file(found, platform)
    if loaded.platform is None or not loaded.ok:
        _print_diagnostics(loaded.diagnostics, loaded.sources, OutputFormat.text, [platform])
        raise typer.Exit(EXIT_USAGE)
    made = starter(loaded.platform, shop)
    targets = [(directory / f"{shop}.kefu", made.policy), (directory / f"{shop}.test.yaml", made.scenario)]
    for path, _ in targets:
        if path.exists():
            typer.echo(f"error: {visible(str(path))} exists already: kefu init never overwrites a file", err=True)
            raise typer.Exit(EXIT_USAGE)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with PendingOutputs() as outputs:   # both files or neither: a second that fails leaves no first behind
            for path, text in targets:
                outputs.open(path, "starter file").write(text.encode("utf-8"))
            outputs.commit()
    except OutputFailed as err:
        typer.echo(f"error: cannot write {visible(str(err.output.path))}: {err.reason}", err=True)
        raise typer.Exit(EXIT_USAGE)
    except OSError as err:
        typer.echo(f"error: cannot write {visible(str(err.filename or directory))}: {err.strerror or err}", err=True)
        raise typer.Exit(EXIT_USAGE)
    for path, _ in targets:
        typer.echo(f"wrote {visible(str(path))}")
    typer.echo(f"next: kefu check {visible(str(targets[0][0]))} && kefu test {visible(str(targets[1][0]))}")


@app.command("test")
def test_command(
    paths: List[Path] = typer.Argument(None, help="Scenario files, or directories to search for *.yaml scenario files (default: .)."),
    run: Optional[str] = typer.Option(None, "--run", help="Only the cases whose name matches this regular expression."),
    format: PlainFormat = typer.Option(PlainFormat.text, "--format", "-f", help="Output format: text or json."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML here (for CI)."),
    update: bool = typer.Option(False, "--update", help="Rewrite the expectations of failing cases from the replay, keeping comments and layout."),
    coverage: bool = typer.Option(False, "--coverage", help="List the policies' rules that no case exercised."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0, max=100, help="Fail when less than this percent of the rules is exercised (implies --coverage)."),
    platform_dir: List[Path] = typer.Option([], "--platform-dir", help="Extra directory of platform files."),
) -> None:
    """Run scenario files: a policy, events, and what the replay must decide.

    Exit codes: 0 every case passed, 1 a case failed, a scenario file is broken or coverage is
    below --threshold, 2 usage or I/O error (no scenario file found, a bad --run pattern).
    """
    import re

    from .diagnostics import visible
    from .events import standard_stream
    from .testrun import render_json as render_test_json, render_junit, render_text as render_test_text, run_paths

    try:
        pattern = re.compile(run) if run is not None else None
    except re.error as err:
        typer.echo(f"error: --run {visible(run or '')!r} is not a regular expression: {err}", err=True)
        raise typer.Exit(EXIT_USAGE)
    coverage = coverage or threshold is not None
    outcome = run_paths(list(paths or [Path(".")]), pattern=pattern, loader=_loader(platform_dir), update=update)
    body = render_test_json(outcome, coverage=coverage) if format is PlainFormat.json else \
        render_test_text(outcome, coverage=coverage).encode("utf-8")
    stdout = standard_stream("stdout")
    stdout.write(body)
    stdout.flush()
    if junit is not None:
        _write_file(junit, render_junit(outcome))
    if outcome.missing or outcome.unreadable or (not outcome.results and not outcome.errors):
        if not outcome.missing and not outcome.unreadable:
            typer.echo("error: no scenario files found (YAML files with `cases` or `expect`)", err=True)
        raise typer.Exit(EXIT_USAGE)
    below = threshold is not None and outcome.coverage.percent() < threshold
    if below:
        typer.echo(f"coverage {outcome.coverage.percent():g}% is below --threshold {threshold:g}%", err=True)
    failed = outcome.failed or outcome.errors or below
    raise typer.Exit(EXIT_ERRORS if failed else EXIT_OK)
def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does, through the same clean-up: unfinished outputs are discarded."""
    raise SystemExit(128 + signum)


def main() -> None:
    """Console entry point. An I/O error no command handled itself (standard output full or closed,
    say) is a plain message and exit 2, not a traceback. SIGTERM exits 143 after the clean-up."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        sys.stderr.write(visible(f"error: {where}{err.strerror or err}") + "\n")
        raise SystemExit(EXIT_USAGE) from None


if __name__ == "__main__":
    main()
