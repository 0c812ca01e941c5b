"""The end-to-end test of `make demo`: the whole demo in a real browser (`make test-e2e`).

It starts Home Assistant, the simulator and the aggregator and takes minutes, so `make test`
leaves test_demo.py out; `make test-e2e` (and CI after `make test`) runs it with BALANCE_E2E=1.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
READY_TIMEOUT_S = 540.0
"""Set-up takes a minute or two; then the history waits for the recorder's first five-minute
statistics (up to five minutes, by the wall clock) and Home Assistant restarts once."""


BROWSER_TESTS = "test_demo.py"
"""The whole demo in a browser; the demo's own parts (test_demo_parts.py) run in `make test`."""


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if os.environ.get("BALANCE_E2E") != "1" and collection_path.name == BROWSER_TESTS:
        return True
    return None


class DemoRun:
    """The demo as a child process, and what it says on stderr (kept for the assertions)."""

    def __init__(self, state_dir: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scripts.demo",
                "--headless",
                "--free-ports",
                "--state-dir",
                str(state_dir),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.state_dir = state_dir
        self.messages: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.messages.append(line.rstrip())
            print(line.rstrip(), file=sys.stderr)

    def wait_ready(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not readable:
                break
            line = self.process.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                ready: dict[str, Any] = json.loads(line)
                if ready.get("event") == "ready":
                    return ready
        self.stop()
        pytest.fail("the demo did not get ready:\n" + "\n".join(self.messages[-30:]))

    def said(self, fragment: str) -> bool:
        return any(fragment in m for m in self.messages)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    run = DemoRun(tmp_path_factory.mktemp("demo"))
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def demo(demo_run: DemoRun) -> dict[str, Any]:
    return demo_run.wait_ready()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def ha_page(browser: Browser, demo: dict[str, Any]) -> Iterator[Page]:
    """One Home Assistant session for all the HA steps, logged in by the first test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def operator_page(browser: Browser, demo: dict[str, Any]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
