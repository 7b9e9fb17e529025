"""Fixtures that build real rows through the service layer."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client

from lists.models import Domain, MailingList
from lists.services import create_domain, create_list
from members.models import Role
from members.services import subscribe, verify_address


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The production hasher is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def domain(db) -> Domain:
    return create_domain("example.com", web_host="lists.example.com", description="Example")


@pytest.fixture
def mlist(domain) -> MailingList:
    return create_list("ant@example.com", description="Ants and their friends")


def make_user(email: str, *, superuser: bool = False, password: str = "correct horse battery"):
    """A user whose email was confirmed, as sign-up leaves it."""
    User = get_user_model()
    factory = User.objects.create_superuser if superuser else User.objects.create_user
    user = factory(username=email, email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    verify_address(email, user)
    return user


@pytest.fixture
def site_admin(db):
    return make_user("admin@example.org", superuser=True)


@pytest.fixture
def owner(mlist):
    user = make_user("owner@example.org")
    subscribe(mlist, user.email, role=Role.OWNER)
    return user


@pytest.fixture
def member(mlist):
    user = make_user("member@example.org")
    subscribe(mlist, user.email)
    return user


@pytest.fixture
def moderator(mlist):
    user = make_user("moderator@example.org")
    subscribe(mlist, user.email, role=Role.MODERATOR)
    return user


@pytest.fixture
def other_owner(domain):
    """The owner of another list of the same site."""
    user = make_user("beekeeper@example.org")
    subscribe(create_list("wasp@example.com"), user.email, role=Role.OWNER)
    return user


def logged_in(user) -> Client:
    """A client of its own, signed in as `user` (several can be used in one test)."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return logged_in(owner)


@pytest.fixture
def stranger(db):
    return make_user("stranger@example.org")


def pytest_collection_modifyitems(items):
    # Tests on the real broker (TEST_BROKER_URL) can be run alone with `-m broker`,
    # as CI does once more against RabbitMQ.
    for item in items:
        if "test_broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)


@pytest.fixture(autouse=True)
def search_index_of_its_own(settings, tmp_path):
    """Each test gets an empty search index of its own (pytest-xdist runs
    tests side by side), on the default engine (SQLite FTS5); its file is
    created only when a test indexes or searches."""
    from haystack import connections

    from mailman_site.settings import haystack_from_url

    settings.HAYSTACK_CONNECTIONS = {"default": haystack_from_url(f"sqlite://{tmp_path / 'search.sqlite3'}")}
    connections.connections_info = settings.HAYSTACK_CONNECTIONS
    connections.reload("default")
    yield
    connections.connections_info = settings.HAYSTACK_CONNECTIONS
    connections.reload("default")
