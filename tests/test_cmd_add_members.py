import json

import pytest

from members.models import Address, Membership, Role
from members.services import ban, subscribe
from tests.command_runner import call, child_site


def roster(mlist, role=Role.MEMBER) -> dict[str, str]:
    return dict(
        Membership.objects.filter(mailing_list=mlist, role=role).values_list("address__email", "address__display_name")
    )


def test_add_members_reads_the_three_address_forms(mlist):
    result = call(
        "add_members", "ant@example.com", stdin='a@example.net\nB@Example.net Bee Bop\n"Cee, C." <c@example.net>\n'
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Added 3 to ant@example.com as member; 0 already there")
    assert roster(mlist) == {"a@example.net": "", "b@example.net": "Bee Bop", "c@example.net": "Cee, C."}


def test_blank_lines_and_comments_are_ignored(mlist):
    result = call("add_members", "ant@example.com", stdin="# a comment\n\n   \n  # indented comment\na@example.net\n")
    assert result.returncode == 0
    assert list(roster(mlist)) == ["a@example.net"]


def test_add_members_reports_invalid_lines_and_writes_nothing(mlist):
    lines = "a@example.net\nnot an address\nb@example.net\nc@@example.net\n"
    result = call("add_members", "ant@example.com", stdin=lines)
    assert result.returncode == 1
    assert "line 2: not a valid email address: not an address" in result.stderr
    assert "line 4: not a valid email address: c@@example.net" in result.stderr
    assert "2 invalid line(s); nothing was added" in result.stderr
    assert roster(mlist) == {}
    assert not Address.objects.exists()


def test_skip_invalid_adds_the_valid_lines(mlist):
    lines = "a@example.net\nnot an address\nb@example.net\n"
    result = call("add_members", "ant@example.com", "--skip-invalid", stdin=lines)
    assert result.returncode == 0
    assert "line 2: not a valid email address" in result.stderr
    assert "Added 2 " in result.stdout
    assert "1 invalid lines skipped" in result.stdout
    assert set(roster(mlist)) == {"a@example.net", "b@example.net"}


def test_repeated_lines_and_existing_members_are_counted_as_already_there(mlist, member):
    lines = "a@example.net\nA@EXAMPLE.NET\nmember@example.org\n"
    result = call("add_members", "ant@example.com", "--json", stdin=lines)
    report = json.loads(result.stdout)
    assert (report["added"], report["already_there"]) == (1, 2)
    assert Membership.objects.filter(mailing_list=mlist, address__email="a@example.net").count() == 1


def test_huge_line_is_reported_clipped_and_nothing_is_written(mlist):
    huge = "x" * 1_000_000 + "@example.net"
    result = call("add_members", "ant@example.com", stdin=f"a@example.net\n{huge}\n")
    assert result.returncode == 1
    assert "line 2: address longer than 254 characters: xxx" in result.stderr
    assert "(1,000,012 characters)" in result.stderr
    assert len(result.stderr) < 1000
    assert roster(mlist) == {}


def test_address_longer_than_the_column_is_invalid(mlist):
    # Valid to Django's validator (under 320), too long for RFC 5321 and the database.
    result = call("add_members", "ant@example.com", stdin="a" * 250 + "@example.net\n")
    assert result.returncode == 1
    assert "line 1: address longer than 254 characters" in result.stderr


@pytest.mark.parametrize(
    "line", ["a@example.net Evil\x1b[2J", "a\x00@example.net", '"\x01"@example.net', "a@b\x7f.net"]
)
def test_control_characters_make_a_line_invalid(mlist, line):
    result = call("add_members", "ant@example.com", stdin=f"ok@example.net\n{line}\n")
    assert result.returncode == 1
    assert "line 2: contains control characters" in result.stderr
    # Echoed escaped, so the report cannot drive the operator's terminal.
    assert "\x1b" not in result.stderr and "\x00" not in result.stderr
    assert roster(mlist) == {}


def test_non_utf8_input_is_a_clear_error_and_nothing_is_written(mlist):
    result = call("add_members", "ant@example.com", stdin=b"a@example.net\nJos\xe9 <jose@example.net>\n")
    assert result.returncode == 1
    assert "Line 2 is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr
    assert roster(mlist) == {}


def test_utf8_with_byte_order_mark_and_crlf_line_endings_is_read(mlist):
    text = "a@example.net\r\nJosé <jose@example.net>\r\n"
    result = call("add_members", "ant@example.com", stdin=b"\xef\xbb\xbf" + text.encode())
    assert result.returncode == 0, result.stderr
    assert roster(mlist) == {"a@example.net": "", "jose@example.net": "José"}


def test_empty_input_adds_nothing_and_succeeds(mlist):
    result = call("add_members", "ant@example.com", stdin="")
    assert result.returncode == 0
    assert result.stdout.startswith("Added 0 ")


def test_invalid_role_is_refused(mlist):
    result = call("add_members", "ant@example.com", "--role=king", stdin="a@example.net\n")
    assert result.returncode == 1
    assert "invalid choice: 'king'" in result.stderr
    assert not Membership.objects.exists()


def test_add_members_with_owner_role(mlist):
    result = call("add_members", "ant@example.com", "--role=owner", stdin="boss@example.org\n")
    assert result.returncode == 0
    assert list(roster(mlist, Role.OWNER)) == ["boss@example.org"]
    assert roster(mlist) == {}


def test_banned_addresses_are_reported_and_not_added(mlist):
    ban(mlist, "spammer@example.net")
    ban(None, "^.*@evil\\.example$")
    lines = "a@example.net\nspammer@example.net\nmallory@evil.example\n"
    result = call("add_members", "ant@example.com", "--json", stdin=lines)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert (report["added"], report["banned"]) == (1, 2)
    assert report["banned_addresses"] == ["spammer@example.net", "mallory@evil.example"]
    assert "spammer@example.net: banned from ant@example.com, not added" in result.stderr
    assert list(roster(mlist)) == ["a@example.net"]


def test_json_report_lists_invalid_lines(mlist):
    result = call("add_members", "ant@example.com", "--json", stdin="a@example.net\nnope\n")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["written"] is False
    assert report["invalid_lines"] == [{"line": 2, "text": "nope", "reason": "not a valid email address"}]


def test_reason_is_reported_whole_when_the_line_holds_a_colon(mlist):
    result = call("add_members", "ant@example.com", "--json", stdin="Re: Smith <smith@@example.net>\n")
    assert json.loads(result.stdout)["invalid_lines"][0]["reason"] == "not a valid email address"


def test_add_members_of_unknown_list_is_an_error(db):
    result = call("add_members", "nope@example.com", stdin="a@example.net\n")
    assert result.returncode == 1
    assert "No such list: nope@example.com" in result.stderr
    assert not Address.objects.exists()


def test_add_members_reads_a_file(mlist, tmp_path):
    path = tmp_path / "members.txt"
    path.write_text("a@example.net\nb@example.net\n")
    result = call("add_members", "ant@example.com", str(path))
    assert result.returncode == 0
    assert set(roster(mlist)) == {"a@example.net", "b@example.net"}


def test_missing_file_is_a_clear_error(mlist, tmp_path):
    result = call("add_members", "ant@example.com", str(tmp_path / "missing.txt"))
    assert result.returncode == 1
    assert "Cannot read" in result.stderr and "No such file or directory" in result.stderr


def test_large_input_shows_no_progress_bar_when_stderr_is_not_a_terminal(mlist):
    lines = "".join(f"user{i}@example.net\n" for i in range(1500))
    result = call("add_members", "ant@example.com", stdin=lines)
    assert result.returncode == 0
    assert result.stderr == ""
    assert Membership.objects.filter(mailing_list=mlist).count() == 1500


def test_progress_bar_can_be_forced(mlist):
    lines = "".join(f"user{i}@example.net\n" for i in range(1500))
    result = call("add_members", "ant@example.com", "--progress", stdin=lines)
    assert "100%" in result.stderr
    assert "1.50k/1.50k" in result.stderr


def test_existing_subscription_is_kept_when_others_are_invalid(mlist):
    subscribe(mlist, "old@example.net")
    result = call("add_members", "ant@example.com", stdin="new@example.net\nbad\n")
    assert result.returncode == 1
    assert list(roster(mlist)) == ["old@example.net"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with child_site(tmp_path_factory.mktemp("site")) as site:
        created = site.manage("create_list", "ant@example.com", "--create-domain")
        assert created.returncode == 0, created.stderr
        yield site


@pytest.mark.slow
def test_add_members_process_reads_stdin_and_exits_zero(site):
    result = site.manage("add_members", "ant@example.com", stdin=b"proc1@example.net\nProc Two <proc2@example.net>\n")
    assert result.returncode == 0, result.stderr
    assert "Added 2 " in result.stdout
    roster_csv = site.manage("members", "ant@example.com", "--csv").stdout
    assert "proc1@example.net,,member" in roster_csv
    assert "proc2@example.net,Proc Two,member" in roster_csv


@pytest.mark.slow
def test_add_members_process_exits_nonzero_on_invalid_lines(site):
    result = site.manage("add_members", "ant@example.com", "-", stdin=b"proc3@example.net\nbroken\n")
    assert result.returncode == 1
    assert "line 2: not a valid email address: broken" in result.stderr
    assert "Traceback" not in result.stderr
    assert "proc3@example.net" not in site.manage("members", "ant@example.com").stdout


@pytest.mark.slow
def test_add_members_process_rejects_non_utf8_without_a_traceback(site):
    result = site.manage("add_members", "ant@example.com", stdin=b"\xff\xfeproc4@example.net\n")
    assert result.returncode == 1
    assert "Line 1 is not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_add_members_process_to_unknown_list_exits_nonzero(site):
    result = site.manage("add_members", "nope@example.com", stdin=b"proc5@example.net\n")
    assert result.returncode == 1
    assert "No such list: nope@example.com" in result.stderr


@pytest.mark.slow
def test_add_members_process_with_invalid_role_exits_with_usage_error(site):
    result = site.manage("add_members", "ant@example.com", "--role=king", stdin=b"proc6@example.net\n")
    assert result.returncode == 2
    assert "invalid choice: 'king'" in result.stderr
