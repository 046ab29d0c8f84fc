"""Wheel build hook: the what-if actor (engine/whatif/actor.py) compiled with mypyc, where it can be.

The model replay (`kefu replay --agents model`) spends its own time in the actor's loop; compiled, it costs
about 1.4 times the plain replay per event instead of 1.6 (docs/benchmarks.md). The source stays plain
Python and the wheel keeps it: where the compile fails (no C compiler, say) the wheel is pure Python and the
build says why. An editable install (`pip install -e .`, for working on kefu) and KEFU_PURE_PYTHON=1 build
pure Python on purpose. `kefu --version` says which actor an install runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILED = ("engine/whatif/actor.py",)
"""The modules compiled, from the project's root."""
PURE_ENV = "KEFU_PURE_PYTHON"
"""Set (to anything but empty), the wheel is pure Python and its build needs neither mypy nor a compiler."""
BUILD_REQUIRES = ("mypy>=2.4", "setuptools>=68")
COMPILE_TIMEOUT = 900.0

# mypy sees the compiled modules alone (the rest of kefu and its dependencies are Any to it): the build needs
# no runtime dependency, and what the actor's loop spends its time on (its own classes, heaps, floats) is typed.
_SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(name="kefu-compiled", ext_modules=mypycify({args!r}, target_dir={target!r}, opt_level="3"))
"""


class CompileFailed(Exception):
    """mypyc or the C compiler failed; the message is the end of what they printed."""


def compile_modules(root: Path, out: Path, modules: tuple[str, ...] = COMPILED,
                    python: str = sys.executable, timeout: float = COMPILE_TIMEOUT) -> list[Path]:
    """Compile the modules (paths from root) with mypyc, building in out; the extension files made, each
    relative to out / "lib" (its place in the wheel)."""
    out.mkdir(parents=True, exist_ok=True)
    config = out / "mypy.ini"
    config.write_text("[mypy]\n", encoding="utf-8")   # not the project's: its pydantic plugin is not installed here
    args = ["--config-file", str(config), "--cache-dir", str(out / "cache"),
            "--ignore-missing-imports", "--follow-imports=skip", *(str(root / m) for m in modules)]
    (out / "setup.py").write_text(_SETUP.format(args=args, target=str(out / "c")), encoding="utf-8")
    try:
        done = subprocess.run([python, "setup.py", "build_ext", "--build-lib", "lib", "--build-temp", "tmp"],
                              cwd=out, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CompileFailed(f"not done after {timeout:.0f} s") from None
    if done.returncode:
        said = (done.stdout + done.stderr).strip().splitlines()
        raise CompileFailed(said[-1] if said else f"exit status {done.returncode}")   # the compiler's last word
    lib = out / "lib"
    built = sorted(p.relative_to(lib) for p in lib.rglob("*") if p.suffix in (".so", ".pyd"))
    if not built:
        raise CompileFailed("the build made no extension")
    return built


class CompiledActorHook(BuildHookInterface):
    """Adds the compiled modules to a standard wheel, or leaves it pure Python and says why."""

    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        return [] if os.environ.get(PURE_ENV) else list(BUILD_REQUIRES)

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._out: Path | None = None
        if self.target_name != "wheel":
            return
        if version == "editable" or os.environ.get(PURE_ENV):
            why = "an editable install" if version == "editable" else f"{PURE_ENV} is set"
            self.app.display_info(f"kefu: the what-if actor is pure Python ({why})")
            return
        self._out = Path(tempfile.mkdtemp(prefix="kefu-mypyc-"))
        try:
            built = compile_modules(Path(self.root), self._out)
        except Exception as err:   # any failure to compile leaves the wheel pure Python, not the install failed
            self.app.display_warning(f"kefu: the what-if actor was not compiled, the wheel is pure Python "
                                     f"(model replays about 15 % slower): {type(err).__name__}: {err}")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for rel in built:
            build_data["force_include"][str(self._out / "lib" / rel)] = rel.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)   # none when initialize did not run (another target)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
