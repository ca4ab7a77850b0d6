"""The web app over the tiny Denmark (tests/web/conftest.py), for the attacks."""

from tests.web.conftest import site  # noqa: F401
