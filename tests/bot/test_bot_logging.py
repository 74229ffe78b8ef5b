"""The token never reaches a log line, whatever logs it (message, arguments or traceback)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from bot.app.logs import REDACTED, setup_logging
from bot.config import MISSING_TOKEN_MESSAGE
from tests.conftest import REPO_ROOT

TOKEN = "MTQwMDAwMDAwMDAwMDAwMDAw.GsecrT.do-not-print-me-0123456789abcdef"


def test_setup_logging_redacts_the_token_everywhere(capsys):
    root = logging.getLogger()
    before = list(root.handlers)
    setup_logging("DEBUG", [TOKEN])
    added = [h for h in root.handlers if h not in before]
    try:
        log = logging.getLogger("discord.http")
        log.info("sending Authorization: Bot %s", TOKEN)
        log.warning(f"f-string with {TOKEN} inside")
        try:
            raise RuntimeError(f"login failed for {TOKEN}")
        except RuntimeError:
            log.exception("request failed")
    finally:
        for handler in added:
            root.removeHandler(handler)
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert err.count(REDACTED) == 3  # the message, the f-string, the exception text
    assert "RuntimeError: login failed for [redacted]" in err


def test_missing_token_exits_2_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "RIFFUSION_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {MISSING_TOKEN_MESSAGE}"
