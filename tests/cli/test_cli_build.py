"""CLI: build prints a summary; bad input gives `error: ...` and exit code 2, no traceback."""
from __future__ import annotations

import subprocess
import sys

from pipeline.cli import main


def test_build_command_summary(built_small_cache, catalog_csv, capsys):
    assert main(["build", "--catalog", str(catalog_csv), "--cache", str(built_small_cache),
                 "--config", str(_config_file(built_small_cache))]) == 0
    out = capsys.readouterr().out
    assert "3 rejected" in out and "clusters:" in out and "val_playlist_precision_at_10" in out


def _config_file(cache):
    return cache / "config.json"  # the resolved config written by the build


def test_missing_catalog_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--catalog",
                           str(tmp_path / "none.csv"), "--cache", str(tmp_path / "c")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "none.csv: catalog not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_names_the_key(tmp_path, catalog_csv):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"embedding": {"dimm": 3}}')
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--catalog", str(catalog_csv),
                           "--cache", str(tmp_path / "c"), "--config", str(cfg)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "dimm" in proc.stderr and "Traceback" not in proc.stderr
