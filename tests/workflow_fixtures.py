"""Fixtures of the subscription workflow tests; a test module takes them with
`pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]`."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    # The counters live in the cache, which outlives a test's transaction.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Call a function and run what it left for after the commit (events, welcome mails)."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run
