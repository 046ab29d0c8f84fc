"""Running the `kefu` CLI in-process for tests."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()


def kefu(*args, input=None):
    """Run the CLI in-process; no run may ever end in a traceback."""
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


# A diagnostic code where the engine makes a diagnostic (error(...), warning(...), SourceError(...), ...).
EMITTED_CODE = re.compile(r'(?:error|warning|SourceError|_unknown|_bad)\(\s*"([EW]\d{3})"')
