import json

import pytest

from members.models import Membership, Role
from members.services import subscribe
from tests.command_runner import call


@pytest.fixture
def three_members(mlist):
    for email in ("a@example.net", "b@example.net", "c@example.net"):
        subscribe(mlist, email)
    return mlist


def emails(mlist, role=Role.MEMBER) -> set[str]:
    return set(Membership.objects.filter(mailing_list=mlist, role=role).values_list("address__email", flat=True))


def test_remove_members_removes_listed_addresses_and_counts_the_others(three_members):
    result = call("remove_members", "ant@example.com", stdin="A@Example.net\nBee <b@example.net>\nnobody@example.net\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Removed 2 from ant@example.com as member; 1 were not members")
    assert emails(three_members) == {"c@example.net"}


def test_remove_members_reports_invalid_lines_and_removes_nothing(three_members):
    result = call("remove_members", "ant@example.com", stdin="a@example.net\n\nnot an address\n")
    assert result.returncode == 1
    assert "line 3: not a valid email address: not an address" in result.stderr
    assert "nothing was removed" in result.stderr
    assert emails(three_members) == {"a@example.net", "b@example.net", "c@example.net"}


def test_skip_invalid_removes_the_valid_lines(three_members):
    result = call("remove_members", "ant@example.com", "--skip-invalid", stdin="a@example.net\nbad\x1b[2J\n")
    assert result.returncode == 0
    assert "line 2: contains control characters: bad\\x1b[2J" in result.stderr
    assert emails(three_members) == {"b@example.net", "c@example.net"}


def test_remove_members_only_touches_the_given_role(three_members):
    subscribe(three_members, "a@example.net", role=Role.OWNER)
    result = call("remove_members", "ant@example.com", "--role=owner", stdin="a@example.net\n")
    assert result.returncode == 0
    assert emails(three_members, Role.OWNER) == set()
    assert "a@example.net" in emails(three_members)


def test_repeated_lines_remove_once(three_members):
    result = call("remove_members", "ant@example.com", "--json", stdin="a@example.net\na@example.net\n")
    report = json.loads(result.stdout)
    assert (report["removed"], report["not_there"], report["invalid"]) == (1, 0, 0)


def test_non_utf8_input_is_a_clear_error_and_nothing_is_removed(three_members):
    result = call("remove_members", "ant@example.com", stdin=b"a@example.net\n\xc3\x28\n")
    assert result.returncode == 1
    assert "Line 2 is not UTF-8 text" in result.stderr
    assert len(emails(three_members)) == 3


def test_empty_input_removes_nothing(three_members):
    result = call("remove_members", "ant@example.com", stdin="")
    assert result.returncode == 0
    assert len(emails(three_members)) == 3


def test_huge_line_is_reported_clipped(three_members):
    result = call("remove_members", "ant@example.com", stdin="a@example.net\n" + "y" * 500_000 + "\n")
    assert result.returncode == 1
    assert "(500,000 characters)" in result.stderr
    assert len(result.stderr) < 1000
    assert len(emails(three_members)) == 3


def test_invalid_role_is_refused(three_members):
    result = call("remove_members", "ant@example.com", "--role=king", stdin="a@example.net\n")
    assert result.returncode == 1
    assert len(emails(three_members)) == 3


def test_remove_members_of_unknown_list_is_an_error(db):
    result = call("remove_members", "nope@example.com", stdin="a@example.net\n")
    assert result.returncode == 1
    assert "No such list: nope@example.com" in result.stderr


def test_json_report_lists_invalid_lines(three_members):
    result = call("remove_members", "ant@example.com", "--json", stdin="nope\n")
    report = json.loads(result.stdout)
    assert report["written"] is False
    assert report["invalid_lines"] == [{"line": 1, "text": "nope", "reason": "not a valid email address"}]
