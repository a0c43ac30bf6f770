"""Starts a fresh `etp serve` on a free loopback port for each test module."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> str:
    explicit = os.environ.get("ETP_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "etp")


class RunningServer:
    def __init__(self, extra_args=()):
        self.port = _free_port()
        self.data_dir = tempfile.mkdtemp(prefix="etp-interop-")
        self.log_path = Path(self.data_dir + ".log")
        self.log = open(self.log_path, "wb")
        args = [_binary(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir, *extra_args]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.http}/health", timeout=1).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        finally:
            self.log.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    s = RunningServer()
    yield s
    s.stop()
    assert s.proc.returncode == 0, f"server exited with {s.proc.returncode}:\n{s.log_path.read_text()}"
