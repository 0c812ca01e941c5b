"""The demo's child processes: each in its own process group, stopped in reverse order.

A child runs in a new session, so the terminal's Ctrl-C reaches only the demo itself, which then
stops the children one by one (SIGTERM, then SIGKILL to the whole group): Home Assistant gets
time to write its storage, and nothing a child started outlives the demo. SIGTERM rather than
SIGINT: a child started from a background job inherits SIGINT ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it), for runs that must not collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@dataclass(slots=True)
class Child:
    name: str
    process: subprocess.Popen[str]
    log_path: Path
    stop_timeout: float


@dataclass(slots=True)
class ProcessGroup:
    """Every process the demo started; ``stop_all`` is safe to call more than once."""

    log_dir: Path
    env: dict[str, str]
    cwd: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        stop_timeout: float = 15.0,
        stdout: int | IO[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("a")
        process = subprocess.Popen(
            list(argv),
            stdout=log if stdout is None else stdout,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env if env is None else env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()  # the child holds its own descriptor
        child = Child(name, process, log_path, stop_timeout)
        self.children.append(child)
        return child

    def check(self) -> None:
        """Raise if a child died: the demo is no use with a part missing."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                tail = "".join(child.log_path.read_text(errors="replace").splitlines(True)[-15:])
                raise ChildExited(f"{child.name} exited with {code}; its log ends:\n{tail}")

    def stop(self, name: str) -> None:
        for child in [c for c in self.children if c.name == name]:
            _stop(child)
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            _stop(child)
        self.children.clear()


class ChildExited(RuntimeError):
    pass


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


def _stop(child: Child) -> None:
    process = child.process
    if process.poll() is None:
        _signal_group(child, signal.SIGTERM)
        try:
            process.wait(timeout=child.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            process.wait(timeout=5)
    # Grandchildren that kept the group alive (a helper a child forked) go too.
    _signal_group(child, signal.SIGKILL)
