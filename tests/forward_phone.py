"""A phone for the forwarder's tests: the notification shade behind a fake
``termux-notification-list`` on PATH (a script printing a JSON file the test rewrites, as
Termux:API prints the active notifications), and ``kasir/forward.py`` run as its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

FORWARD_PY = Path(__file__).resolve().parents[1] / "kasir" / "forward.py"
GOPAY = "com.gojek.gopaymerchant"


class FakePhone:
    def __init__(self, tmp_path: Path, data_dir: str = "data") -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.shade_file = tmp_path / "shade.json"
        self.data = tmp_path / data_dir
        self.shade: list[dict[str, Any]] = []
        self.show()
        program = self.bin / "termux-notification-list"
        program.write_text(f"#!/bin/sh\ncat '{self.shade_file}'\n")
        program.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[str] | None = None
        self.logs: list[str] = []
        self.counter = 0

    def notify(self, amount: str, package: str = GOPAY) -> None:
        """A new payment notification in the shade: GoPay Merchant's, under the same key every
        time and with a new ``when`` (Termux:API prints local time to the second; ahead of now,
        so never before the payment it pays)."""
        self.counter += 1
        self.shade.insert(
            0,
            {
                "id": 7,
                "tag": "",
                "key": f"0|{package}|7|null|10123",
                "group": "",
                "packageName": package,
                "title": "Pembayaran QRIS statis diterima",
                "content": f"Rp {amount} di TOKO, Digital & Kreatif.",
                "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + self.counter)),
            },
        )
        self.show()

    def show(self) -> None:
        tmp = self.shade_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.shade))
        os.replace(tmp, self.shade_file)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(FORWARD_PY), *args, "--data-dir", str(self.data)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    def status(self) -> dict[str, Any]:
        done = self.cli("status", "--json")
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def start(self, *extra: str, poll_interval: float = 0.2) -> None:
        args = ["run", "--data-dir", str(self.data), "--poll-interval", str(poll_interval), "--heartbeat-interval", "1"]
        self.process = subprocess.Popen(
            [sys.executable, str(FORWARD_PY), *args, "--max-backoff", "4", *extra],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        stderr = self.process.stderr
        assert stderr is not None
        threading.Thread(target=lambda: self.logs.extend(stderr), daemon=True).start()

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the forwarder (if it runs); its exit code."""
        if self.process is None:
            return None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process = None
        return code

    def log(self) -> str:
        return "".join(self.logs)
