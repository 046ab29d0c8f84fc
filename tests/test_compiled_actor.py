"""The what-if actor compiled by mypyc (hatch_build.py) decides byte for byte as the pure-Python one, and a
wheel build that cannot compile it stays pure Python and says why.

The compiled tests build the actor as a wheel build does, into a copy of the tree, and need what that build
needs: mypy, setuptools, hatchling (the test extras) and a C compiler; without one they are skipped.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

hatch_build = pytest.importorskip("hatch_build", reason="hatchling is not installed (the test extras install it)")

SAMPLES = {"douyin": ("douyin-flagship.kefu", "douyin-flagship.jsonl"),
           "taobao": ("taobao-apparel.kefu", "taobao-apparel.jsonl"),
           "pinduoduo": ("pinduoduo-fruit.kefu", "pinduoduo-fruit.jsonl")}


def _compiler() -> str | None:
    """The C compiler a build would use, if it is there."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    return shutil.which(cc[0]) if cc else None


def _missing() -> str | None:
    if importlib.util.find_spec("mypyc") is None or importlib.util.find_spec("setuptools") is None:
        return "mypy (mypyc) or setuptools is not installed"
    if _compiler() is None:
        return "no C compiler"
    return None


needs_compiler = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def run(tree: Path, *args: object) -> subprocess.CompletedProcess:
    """kefu from a tree's source, in a child process (the compiled module is found by the import system)."""
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], cwd=tree, capture_output=True)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """A copy of the tree whose actor is the extension a wheel build makes."""
    where = tmp_path_factory.mktemp("compiled")
    tree = where / "tree"
    for part in ("engine", "grammar", "rulesets"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    built = hatch_build.compile_modules(tree, where / "build")
    for rel in built:
        shutil.copy2(where / "build" / "lib" / rel, tree / rel)
    return tree


@needs_compiler
def test_the_build_makes_the_actor_an_extension_and_kefu_says_so(compiled):
    found = subprocess.run([sys.executable, "-c", "import engine.whatif.actor as a; print(a.__file__)"],
                           cwd=compiled, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found).parent == compiled / "engine" / "whatif" and found.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert "what-if actor: compiled" in run(compiled, "--version").stdout.decode()
    assert "what-if actor: pure Python" in run(ROOT, "--version").stdout.decode()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, tuple[Path, Path, Path]]:
    """Each sample shop's policy, log and a model calibrated on it; and a three-day generated log of one."""
    where = tmp_path_factory.mktemp("inputs")
    out = {}
    for name, (policy, log) in SAMPLES.items():
        out[name] = (ROOT / "rulesets" / "examples" / policy, ROOT / "samples" / log, where / f"{name}.yaml")
    policy = out["taobao"][0]
    generated = where / "three-days.jsonl"
    assert run(ROOT, "generate", policy, "--days", "3", "--seed", "5", "--out", generated).returncode == 0
    out["generated"] = (policy, generated, where / "generated.yaml")
    for _, log, model in out.values():
        assert run(ROOT, "calibrate", log, "--out", model).returncode == 0
    return out


def _same(compiled: Path, *args: object, outputs: tuple[Path, ...] = ()) -> None:
    """The command gives the same exit, stdout, stderr and output files from the pure and the compiled tree."""
    results = []
    for tree in (ROOT, compiled):
        done = run(tree, *args)
        assert done.returncode == 0, done.stderr.decode()
        results.append((done.stdout, done.stderr, [p.read_bytes() for p in outputs]))
    assert results[0] == results[1]
    assert all(len(data) > 0 for data in results[0][2])


@needs_compiler
@pytest.mark.parametrize("name", [*SAMPLES, "generated"])
@pytest.mark.parametrize("seed", ["0", "7"])
def test_compiled_and_pure_actors_decide_byte_for_byte_alike(compiled, inputs, tmp_path, name, seed):
    policy, log, model = inputs[name]
    decisions = tmp_path / "decisions.jsonl"
    _same(compiled, "replay", policy, "--events", log, "--agents", "model", "--model", model, "--seed", seed,
          "--by", "agent", "--decisions", decisions, outputs=(decisions,))


@needs_compiler
def test_alike_with_runs_a_staffing_plan_a_caller_model_and_a_platform_replay(compiled, inputs, tmp_path):
    policy, log, model = inputs["generated"]
    _same(compiled, "replay", policy, "--events", log, "--agents", "model", "--model", model, "--runs", "3",
          "--jobs", "2", "--format", "json")
    plan = tmp_path / "plan.yaml"
    plan.write_text("shifts:\n  - group: presale\n    count: 2\n    hours: '09:00-13:00'\n", encoding="utf-8")
    decisions = tmp_path / "d.jsonl"
    _same(compiled, "replay", policy, "--events", log, "--agents", "model", "--model", model, "--staff", plan,
          "--decisions", decisions, outputs=(decisions,))
    text = model.read_text(encoding="utf-8")
    assert "leaves: queued" in text
    caller = tmp_path / "caller.yaml"
    caller.write_text(text.replace("leaves: queued", "leaves: unanswered"), encoding="utf-8")
    _same(compiled, "replay", policy, "--events", log, "--agents", "model", "--model", caller, "--decisions", decisions,
          outputs=(decisions,))
    policy, log, model = inputs["douyin"]
    _same(compiled, "replay", "--platform", "douyin", "--events", log, "--agents", "model", "--model", model,
          "--jobs", "2", "--decisions", decisions, outputs=(decisions,))   # the actor's model goes to worker processes
    policy, log, model = inputs["pinduoduo"]
    _same(compiled, "compare", policy, policy, "--events", log, "--model", model, "--format", "json")


# ---- the hook: a wheel that cannot compile stays pure Python --------------------------------------------

class _App:
    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def display_warning(self, text: str) -> None:
        self.said.append(("warning", text))

    def display_info(self, text: str) -> None:
        self.said.append(("info", text))


def _hook(tmp_path: Path, target: str = "wheel"):
    app = _App()
    hook = hatch_build.CompiledActorHook(str(tmp_path), {}, None, None, str(tmp_path), target, app)
    return hook, app


def _build_data() -> dict:
    return {"pure_python": True, "infer_tag": False, "force_include": {}}


def test_a_failed_compile_leaves_the_wheel_pure_python_and_says_why(tmp_path, monkeypatch):
    def fails(root, out):
        raise hatch_build.CompileFailed("error: command 'cc' failed: No such file or directory")

    monkeypatch.setattr(hatch_build, "compile_modules", fails)
    monkeypatch.delenv(hatch_build.PURE_ENV, raising=False)
    hook, app = _hook(tmp_path)
    data = _build_data()
    hook.initialize("standard", data)
    assert data == _build_data()
    [(level, text)] = app.said
    assert level == "warning" and "pure Python" in text and "command 'cc' failed" in text
    out = hook._out
    assert out is not None and out.is_dir()
    hook.finalize("standard", data, str(tmp_path / "x.whl"))
    assert not out.exists()   # the build's temporary directory is removed


def test_editable_installs_and_the_environment_switch_build_pure_python_without_mypy(tmp_path, monkeypatch):
    def never(root, out):
        raise AssertionError("compiled")

    monkeypatch.setattr(hatch_build, "compile_modules", never)
    monkeypatch.delenv(hatch_build.PURE_ENV, raising=False)
    hook, app = _hook(tmp_path)
    assert hook.dependencies() == list(hatch_build.BUILD_REQUIRES)
    data = _build_data()
    hook.initialize("editable", data)
    assert data == _build_data() and app.said == [("info", "kefu: the what-if actor is pure Python (an editable install)")]
    monkeypatch.setenv(hatch_build.PURE_ENV, "1")
    assert hook.dependencies() == []
    hook.initialize("standard", data)
    assert data == _build_data() and app.said[-1][1].endswith("(KEFU_PURE_PYTHON is set)")
    hook, app = _hook(tmp_path, target="sdist")
    monkeypatch.delenv(hatch_build.PURE_ENV)
    hook.initialize("standard", data)
    assert data == _build_data() and app.said == []


def test_a_compiled_build_puts_each_extension_in_its_place_in_the_wheel(tmp_path, monkeypatch):
    def builds(root, out):
        made = [Path("engine/whatif/actor.cpython-311-x86_64-linux-gnu.so"),
                Path("engine/whatif/actor__mypyc.cpython-311-x86_64-linux-gnu.so")]
        for rel in made:
            (out / "lib" / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / "lib" / rel).write_bytes(b"")
        return made

    monkeypatch.setattr(hatch_build, "compile_modules", builds)
    monkeypatch.delenv(hatch_build.PURE_ENV, raising=False)
    hook, app = _hook(tmp_path)
    data = _build_data()
    hook.initialize("standard", data)
    lib = hook._out / "lib"
    assert data == {"pure_python": False, "infer_tag": True, "force_include": {
        str(lib / "engine/whatif/actor.cpython-311-x86_64-linux-gnu.so"): "engine/whatif/actor.cpython-311-x86_64-linux-gnu.so",
        str(lib / "engine/whatif/actor__mypyc.cpython-311-x86_64-linux-gnu.so"):
            "engine/whatif/actor__mypyc.cpython-311-x86_64-linux-gnu.so"}}
    assert app.said == []


@needs_compiler
def test_compile_modules_reports_the_compilers_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    before = sorted(ROOT.iterdir())
    with pytest.raises(hatch_build.CompileFailed, match="no-such-cc"):
        hatch_build.compile_modules(ROOT, tmp_path / "build")
    assert sorted(ROOT.iterdir()) == before   # the build writes only in its own directory
