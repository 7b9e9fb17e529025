import io

import pytest

from lists.models import MailingList
from members.models import Ban, Membership
from members.services import ban
from tests.command_runner import call, child_site


class Terminal(io.StringIO):
    """Typed answers on standard input, as from a person at a terminal."""

    def isatty(self) -> bool:
        return True


def test_delete_list_with_yes_deletes_the_list_and_its_memberships(mlist, owner, member):
    ban(mlist, "spammer@example.net")
    result = call("delete_list", "ant@example.com", "--yes")
    assert result.returncode == 0
    assert result.stdout == "Deleted list ant@example.com and its 2 memberships.\n"
    assert not MailingList.objects.exists()
    assert not Membership.objects.exists()
    assert not Ban.objects.exists()


def test_delete_list_without_a_terminal_refuses_and_keeps_the_list(mlist, member):
    result = call("delete_list", "ant@example.com", stdin="ant@example.com\n")
    assert result.returncode == 1
    assert "no terminal to confirm on; pass --yes" in result.stderr
    assert MailingList.objects.filter(pk=mlist.pk).exists()


def test_delete_list_on_a_terminal_deletes_when_the_name_is_typed(mlist, member):
    result = call("delete_list", "ant@example.com", stdin=Terminal("Ant@Example.com\n"))
    assert result.returncode == 0
    assert "Type ant@example.com to confirm" in result.stderr
    assert not MailingList.objects.exists()


@pytest.mark.parametrize("answer", ["ant\n", "y\n", "", "ant@example.com.evil\n"])
def test_delete_list_on_a_terminal_keeps_the_list_unless_the_name_is_typed(mlist, answer):
    result = call("delete_list", "ant@example.com", stdin=Terminal(answer))
    assert result.returncode == 1
    assert "the name typed did not match" in result.stderr
    assert MailingList.objects.filter(pk=mlist.pk).exists()


def test_delete_unknown_list_is_an_error(mlist):
    result = call("delete_list", "nope@example.com", "--yes")
    assert result.returncode == 1
    assert "No such list: nope@example.com" in result.stderr
    assert MailingList.objects.exists()


def test_delete_list_with_malformed_name_is_an_error(mlist):
    result = call("delete_list", "no-at-sign", "--yes")
    assert result.returncode == 1
    assert "No such list: no-at-sign" in result.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with child_site(tmp_path_factory.mktemp("site")) as site:
        yield site


@pytest.mark.slow
def test_delete_list_process_without_terminal_refuses_with_nonzero_exit(site):
    assert site.manage("create_list", "keep@example.com", "--create-domain").returncode == 0
    result = site.manage("delete_list", "keep@example.com", stdin=b"keep@example.com\n")
    assert result.returncode == 1
    assert "no terminal to confirm on" in result.stderr
    assert "keep@example.com" in site.manage("lists").stdout


@pytest.mark.slow
def test_delete_list_process_with_yes_deletes_and_exits_zero(site):
    assert site.manage("create_list", "gone@example.com", "--create-domain").returncode == 0
    assert site.manage("add_members", "gone@example.com", stdin=b"a@example.net\n").returncode == 0
    result = site.manage("delete_list", "gone@example.com", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Deleted list gone@example.com and its 1 membership." in result.stdout
    assert "gone@example.com" not in site.manage("lists").stdout


@pytest.mark.slow
def test_delete_list_process_of_unknown_list_exits_nonzero(site):
    result = site.manage("delete_list", "nope@example.com", "--yes")
    assert result.returncode == 1
    assert "No such list: nope@example.com" in result.stderr
    assert "Traceback" not in result.stderr
