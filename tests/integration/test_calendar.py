"""The ``calendar`` tests (those whose outcome depends on today's date) at fixed instants.

Each instant runs ``pytest -m calendar`` over the modules that have such tests, in a
subprocess with ``CHANNELHOUSE_TEST_NOW`` set: tests/conftest.py moves the whole process's
clock there (ticking on) before any fixture, so the session's sandbox simulates its business
up to that instant. The instants sit on the
edges of the reporting time zone (America/New_York) and of the UTC days the raw layer is
partitioned by. Run one by hand with e.g.
``CHANNELHOUSE_TEST_NOW=2027-03-14T07:30:00Z uv run --frozen pytest -m calendar tests/``.

The subprocess tests here are not marked ``calendar`` (they would run themselves again).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import TEST_NOW_VARIABLE, parse_test_now

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300

INSTANTS = {
    # Sunday 20:00:30 in New York (the week is not over), Monday 00:00:30 in UTC: the tests run
    # within the extractors' 2-minute safety lag, so today's UTC partition is left for later
    "sunday": "2027-06-14T00:00:30Z",
    # 30 April 23:30 in New York, already 1 May in UTC
    "month_end": "2027-05-01T03:30:00Z",
    # New Year's Eve 23:50 in New York, already 1 January 2027 in UTC
    "year_end": "2027-01-01T04:50:00Z",
    # 03:30 EDT on the US spring-forward day (02:00 EST -> 03:00 EDT)
    "spring_forward": "2027-03-14T07:30:00Z",
    # 01:30 EST on the US fall-back day, the second time the clock shows 01:30
    "fall_back": "2027-11-07T06:30:00Z",
}


@dataclass(frozen=True)
class CalendarRun:
    instant: str
    returncode: int
    seconds: float  # the subprocess's own wall time
    output: str

    @property
    def summary(self) -> str:
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else ""


def calendar_modules() -> list[str]:
    """The test modules with calendar tests (collecting only these saves seconds a run)."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if "pytest.mark.calendar" in path.read_text()
    )


def run_calendar_tests(instant: str, basetemp: Path) -> CalendarRun:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        "calendar",
        "-p",
        "no:cacheprovider",
        "--basetemp",
        str(basetemp),
        *calendar_modules(),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CUR"))}
    env[TEST_NOW_VARIABLE] = instant
    started = time.perf_counter()
    try:
        run = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
        returncode, output = run.returncode, run.stdout + run.stderr
    except subprocess.TimeoutExpired as exc:  # its output is bytes, whatever text= says
        returncode = -1
        output = b"".join(o for o in (exc.stdout, exc.stderr) if isinstance(o, bytes)).decode(
            errors="replace"
        )
        output += f"\nTIMEOUT after {RUN_TIMEOUT_S} s"
    return CalendarRun(instant, returncode, time.perf_counter() - started, output)


@pytest.mark.parametrize(
    "instant",
    # each instant its own pytest-xdist group: the five subprocesses spread over the workers
    [
        pytest.param(v, id=k, marks=pytest.mark.xdist_group(f"calendar_{k}"))
        for k, v in INSTANTS.items()
    ],
)
def test_the_calendar_tests_pass_at(instant: str, tmp_path: Path) -> None:
    run = run_calendar_tests(instant, tmp_path / "basetemp")
    print(f"{TEST_NOW_VARIABLE}={instant}: {run.seconds:.1f} s, {run.summary}")
    tail = run.output[-6000:]
    assert run.returncode == 0, (
        f"pytest -m calendar at {instant} failed (exit {run.returncode}, {run.seconds:.0f} s):"
        f"\n{tail}"
    )
    passed = re.search(r"(\d+) passed", run.summary)
    assert passed and int(passed.group(1)) >= 20, f"too few calendar tests ran:\n{tail}"


@pytest.mark.calendar
def test_the_clock_runs_from_the_instant_asked_for(sandbox) -> None:
    """The calendar runs' premise: the process clock, and so the sandbox's business, start at
    ``CHANNELHOUSE_TEST_NOW`` (without it, at the real time)."""
    from time_machine import escape_hatch

    value = os.environ.get(TEST_NOW_VARIABLE)
    now = datetime.now(UTC)
    if value is None:
        assert not escape_hatch.is_travelling()
    else:
        instant = parse_test_now(value)
        assert escape_hatch.is_travelling()
        assert instant <= now < instant + timedelta(minutes=15)  # ticking on from the instant
        assert instant <= sandbox.state.now()
    assert sandbox.state.now() <= datetime.now(UTC)
    # the business runs until tomorrow, seen from when the session's sandbox started
    started = sandbox.state.business.end - timedelta(days=1)
    assert started in (now.date(), now.date() - timedelta(days=1))
    if value is not None:
        assert started >= instant.date()
