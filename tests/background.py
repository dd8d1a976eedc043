"""A command the tests run in the background (a sandbox, a replay), its output read line by line."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
from pathlib import Path


class Background:
    """A command running in a folder until stopped; its stdout lines arrive on a queue."""

    def __init__(self, command: list[str], folder: Path,
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, last: str, timeout: float = 30) -> list[str]:
        """The lines printed up to and including `last`."""
        seen: list[str] = []
        while not seen or seen[-1] != last:
            seen.append(self.lines.get(timeout=timeout))
        return seen

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send `signum` (SIGTERM: as a CI runner ends it); its exit status."""
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=20)

    def kill(self) -> None:
        """End it at once if it still runs (a test's cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
