import csv
import io
import json

import pytest

from members.models import Address, Role
from members.services import bulk_subscribe, subscribe
from tests.command_runner import call


@pytest.fixture
def roster(mlist, owner, member):
    subscribe(mlist, "Carol Example <carol@example.net>")
    subscribe(mlist, "mod@example.org", role=Role.MODERATOR)
    return mlist


def test_members_prints_every_role_as_a_table(roster):
    result = call("members", "ant@example.com")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["email", "display", "name", "role", "delivery", "mode", "delivery", "status"]
    assert lines[2].split() == ["carol@example.net", "Carol", "Example", "member", "regular", "enabled"]
    assert [line.split()[0] for line in lines[2:]] == [
        "carol@example.net",
        "member@example.org",
        "mod@example.org",
        "owner@example.org",
    ]


def test_members_filters_by_role(roster):
    result = call("members", "ant@example.com", "--role=owner", "--json")
    assert json.loads(result.stdout) == [
        {
            "email": "owner@example.org",
            "display_name": "",
            "role": "owner",
            "delivery_mode": "regular",
            "delivery_status": "enabled",
        }
    ]


def test_members_csv_has_a_header_and_one_row_per_membership(roster):
    rows = list(csv.DictReader(io.StringIO(call("members", "ant@example.com", "--csv").stdout)))
    assert len(rows) == 4
    assert rows[0] == {
        "email": "carol@example.net",
        "display_name": "Carol Example",
        "role": "member",
        "delivery_mode": "regular",
        "delivery_status": "enabled",
    }


def test_members_of_an_empty_list(mlist):
    assert json.loads(call("members", "ant@example.com", "--json").stdout) == []
    assert len(call("members", "ant@example.com").stdout.splitlines()) == 2


def test_members_of_unknown_list_is_an_error(db):
    result = call("members", "nope@example.com")
    assert result.returncode == 1
    assert "No such list: nope@example.com" in result.stderr


def test_members_with_invalid_role_is_an_error(mlist):
    result = call("members", "ant@example.com", "--role=king")
    assert result.returncode == 1
    assert "invalid choice: 'king'" in result.stderr


def test_json_and_csv_together_are_refused(mlist):
    result = call("members", "ant@example.com", "--json", "--csv")
    assert result.returncode == 1


def test_long_roster_is_written_whole_in_every_format(mlist):
    bulk_subscribe(mlist, [f"user{i:05d}@example.net" for i in range(2500)])
    assert len(call("members", "ant@example.com").stdout.splitlines()) == 2 + 2500
    assert len(json.loads(call("members", "ant@example.com", "--json").stdout)) == 2500
    assert len(call("members", "ant@example.com", "--csv").stdout.splitlines()) == 1 + 2500


def test_control_characters_in_display_names_are_escaped_in_the_table(member):
    # Names may reach the database by other ways than the address parser.
    Address.objects.filter(email="member@example.org").update(display_name="\x1b[2JMember")
    result = call("members", "ant@example.com")
    assert "\\x1b[2JMember" in result.stdout
    assert "\x1b" not in result.stdout
    assert json.loads(call("members", "ant@example.com", "--json").stdout)[0]["display_name"] == "\x1b[2JMember"
