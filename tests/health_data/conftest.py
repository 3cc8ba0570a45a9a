"""Shared helpers for the health-data tests: the public example recording and small series builders."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from clinic_app.health_data.parsers.awd import read_awd_file
from clinic_app.health_data.series import Series

DATA = Path(__file__).parent / "data"
EXAMPLE_01 = DATA / "example_01.AWD"


@pytest.fixture(scope="session")
def example_01():
    """pyActigraphy's example_01.AWD (downloaded by `make test-data`); fails, never skips, without it."""
    if not EXAMPLE_01.exists():
        pytest.fail(f"{EXAMPLE_01} is missing: run make test-data (downloads it from pyActigraphy 1.2.2 on PyPI)")
    return read_awd_file(EXAMPLE_01)


def hourly(values, start=datetime(2024, 3, 4, 0, 0)):
    return Series(start, timedelta(hours=1), [float(v) for v in values])


def minutely(values, start=datetime(2024, 3, 4, 0, 0)):
    return Series(start, timedelta(minutes=1), [None if v is None else float(v) for v in values])
