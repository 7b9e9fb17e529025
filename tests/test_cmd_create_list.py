import json

from lists.models import Domain, MailingList
from members.models import Address, Membership
from tests.command_runner import call


def test_create_list_prints_what_was_created(domain):
    result = call(
        "create_list",
        "bee@example.com",
        "--owner=Queen@Example.org",
        "--owner=drone@example.org",
        "--display-name=Bees",
        "--description=All about bees",
    )
    assert result.returncode == 0
    assert "Created list bee@example.com" in result.stdout
    assert "Created domain" not in result.stdout
    assert "display name: Bees" in result.stdout
    assert "description:  All about bees" in result.stdout
    assert "owners:       drone@example.org, queen@example.org" in result.stdout
    mlist = MailingList.objects.get(list_name="bee")
    assert (mlist.display_name, mlist.description, mlist.advertised) == ("Bees", "All about bees", True)
    assert set(mlist.memberships.values_list("role", flat=True)) == {"owner"}


def test_create_list_with_create_domain_creates_the_domain_too(db):
    result = call("create_list", "wasp@new.example", "--create-domain")
    assert result.returncode == 0
    assert "Created domain new.example" in result.stdout
    assert MailingList.objects.get().domain.mail_host == "new.example"


def test_create_list_in_unknown_domain_is_refused_with_a_hint(db):
    result = call("create_list", "wasp@nowhere.example")
    assert result.returncode == 1
    assert "No such domain: nowhere.example (pass --create-domain to create it)" in result.stderr
    assert not MailingList.objects.exists()
    assert not Domain.objects.exists()


def test_create_list_json_report(domain):
    result = call("create_list", "bee@example.com", "--owner=queen@example.org", "--not-advertised", "--json")
    assert json.loads(result.stdout) == {
        "list": "bee@example.com",
        "display_name": "Bee",
        "description": "",
        "advertised": False,
        "owners": ["queen@example.org"],
        "domain_created": False,
    }


def test_existing_list_is_refused(mlist):
    result = call("create_list", "ANT@example.com")
    assert result.returncode == 1
    assert "List already exists: ant@example.com" in result.stderr
    assert MailingList.objects.count() == 1


def test_invalid_list_names_are_refused(domain):
    for name in ("no-at-sign", "bee-request@example.com", "b ee@example.com", "@example.com"):
        result = call("create_list", name)
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr
    assert not MailingList.objects.exists()


def test_invalid_owner_address_creates_nothing(domain):
    result = call("create_list", "bee@example.com", "--owner=good@example.org", "--owner=not an address")
    assert result.returncode == 1
    assert "not a valid email address" in result.stderr
    assert not MailingList.objects.exists()
    assert not Membership.objects.exists()
    assert not Address.objects.exists()


def test_too_long_description_is_refused(domain):
    result = call("create_list", "bee@example.com", "--description=" + "x" * 256)
    assert result.returncode == 1
    assert "description" in result.stderr
    assert not MailingList.objects.exists()


def test_control_characters_in_display_name_are_escaped_in_the_report(domain):
    result = call("create_list", "bee@example.com", "--display-name=Bees\x1b[2J")
    assert result.returncode == 0
    assert "display name: Bees\\x1b[2J" in result.stdout
    assert "\x1b" not in result.stdout
