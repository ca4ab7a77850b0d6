"""A real PostgreSQL server for the portability tests (issue 14), started here for the
session (``pgserver.running_server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends.pgserver import NoServerError, running_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with running_server() as url:
            yield url
    except NoServerError as exc:
        pytest.fail(str(exc))
