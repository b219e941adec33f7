"""The Streamlit server settings (.streamlit/config.toml) take effect for a server started
from the repo root, as `make run` and the container start it: uploads need the XSRF token,
an oversized upload is refused, an unhandled exception shows neither its message nor its
traceback in the browser (only in the server log)."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.dashboard_bench import CHROMIUM, chromium, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "/srv/private/catalog-7f3a.csv"
APP = f"""
import streamlit as st
st.title("Settings check")
st.file_uploader("Recipe (.json)", type=["json"], key="up")
if st.button("Fail"):
    raise FileNotFoundError("{SECRET}")
"""


def test_config_has_the_shared_deployment_settings():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["enableCORS"] is True
    assert cfg["server"]["maxUploadSize"] == 1
    assert cfg["client"]["showErrorDetails"] == "none"
    assert cfg["client"]["toolbarMode"] == "minimal"
    assert cfg["browser"]["gatherUsageStats"] is False


@contextlib.contextmanager
def _server(tmp_path: Path):
    """A one-page app served by `streamlit run` from the repo root (so the project's
    config applies); yields its base URL and its log file."""
    script = tmp_path / "settings_app.py"
    script.write_text(APP)
    port, log = free_port(), tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script),
                                 "--server.port", str(port), "--server.address", "127.0.0.1"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                    break
            assert time.monotonic() < deadline, "the test app did not start"
            time.sleep(0.3)
        yield base, log
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_settings_take_effect_in_a_running_server(tmp_path):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (`make browser-deps`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with _server(tmp_path) as (base, log), chromium() as browser:
        put = urllib.request.Request(f"{base}/_stcore/upload_file/any/file", data=b"{}",
                                     method="PUT")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(put, timeout=10)
        assert refused.value.code == 403 and b"XSRF" in refused.value.read()

        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(base)
        page.get_by_role("heading", name="Settings check").wait_for()
        big = tmp_path / "big.json"
        big.write_bytes(b" " * (2 * 1024 * 1024))
        page.locator('input[type="file"]').set_input_files(str(big))
        page.get_by_text("1.0MB or smaller").first.wait_for()   # refused at 1 MB

        page.get_by_role("button", name="Fail").click()
        box = page.locator('[data-testid="stException"]').first
        box.wait_for()
        shown = page.locator("body").inner_text()
        assert SECRET not in shown and "Traceback" not in shown
        assert "FileNotFoundError" not in shown
        deadline = time.monotonic() + 10
        while SECRET not in log.read_text():   # the deployer still gets the details
            assert time.monotonic() < deadline, "the exception is not in the server log"
            time.sleep(0.2)
