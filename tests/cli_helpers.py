"""Running the `kefu` CLI in-process for tests."""

from __future__ import annotations

import re

from pathlib import Path

from typer.testing import CliRunner

from engine import ir
from engine.cli import app
from engine.loader import Loader
from engine.runtime import platform_policy

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "rulesets" / "examples").glob("*.kefu"))

runner = CliRunner()


def kefu(*args, input=None):
    """Run the CLI in-process; no run may ever end in a traceback."""
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


# A diagnostic code where the engine makes a diagnostic (error(...), warning(...), SourceError(...), ...).
EMITTED_CODE = re.compile(r'(?:error|warning|SourceError|unknown|_bad)\(\s*"([EW]\d{3})"')


def shipped_policies() -> list[tuple[str, ir.Policy, bool]]:
    """Each example policy, and each platform alone (no automation): (name, policy, automation)."""
    loader = Loader()
    policies = []
    for path in EXAMPLES:
        result = loader.load(path)
        assert result.policy is not None, path
        policies.append((path.name, result.policy, True))
    for name in loader.available_platforms():   # every platform found, not a fixed list
        platform, diags, _ = loader.platform(ir.Ref(name=name))
        assert platform is not None, diags
        policies.append((name, platform_policy(platform), False))
    return policies
