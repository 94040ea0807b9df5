"""`serve()`: the blocking entry point of `orchestrate sim-server`, in a subprocess."""

import re
import signal
import subprocess
import sys

import httpx

SCRIPT = """
from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import Faults, serve
serve(SimConfig(time_scale=0), "127.0.0.1", 0, Faults(), False, "served")
"""


def test_serve_prints_one_line_and_stops_on_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.fullmatch(r"sim-server \(SIMULATED SGLang\) listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        info = httpx.get(f"{match[1]}/model_info", timeout=5).json()
        assert info["model_path"] == "served"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr.read() == ""
    finally:
        process.kill()
