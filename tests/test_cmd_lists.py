import json

import pytest

from lists.services import configure_list, create_domain, create_list
from members.services import subscribe
from tests.command_runner import call


@pytest.fixture
def other_lists(domain):
    create_domain("other.example")
    create_list("bee@example.com", advertised=False, display_name="Bees")
    return create_list("wasp@other.example")


def test_lists_prints_a_table_counting_members_only(mlist, owner, member):
    subscribe(mlist, "second@example.org")
    result = call("lists")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["list", "display", "name", "members", "advertised"]
    assert lines[2].split() == ["ant@example.com", "Ant", "2", "yes"]


def test_lists_json(mlist, member, other_lists):
    result = call("lists", "--json")
    assert json.loads(result.stdout) == [
        {"list": "ant@example.com", "display_name": "Ant", "members": 1, "advertised": True},
        {"list": "bee@example.com", "display_name": "Bees", "members": 0, "advertised": False},
        {"list": "wasp@other.example", "display_name": "Wasp", "members": 0, "advertised": True},
    ]


def test_lists_filters_by_domain(mlist, other_lists):
    result = call("lists", "--domain=Other.Example", "--json")
    assert [row["list"] for row in json.loads(result.stdout)] == ["wasp@other.example"]


def test_lists_filters_advertised(mlist, other_lists):
    result = call("lists", "--advertised", "--json")
    assert [row["list"] for row in json.loads(result.stdout)] == ["ant@example.com", "wasp@other.example"]


def test_lists_in_unknown_domain_is_an_error(mlist):
    result = call("lists", "--domain=nowhere.example")
    assert result.returncode == 1
    assert "No such domain: nowhere.example" in result.stderr


def test_no_lists_says_so(db):
    assert call("lists").stdout == "No lists.\n"
    assert json.loads(call("lists", "--json").stdout) == []


def test_control_characters_in_display_names_are_escaped_in_the_table(mlist):
    configure_list(mlist, display_name="Ant\x1b]0;owned\x07")
    result = call("lists")
    assert "Ant\\x1b]0;owned\\x07" in result.stdout
    assert "\x1b" not in result.stdout
