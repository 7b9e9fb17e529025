import pytest

from lists.models import MailingList
from lists.services import (
    InvalidListName,
    InvalidSetting,
    ListAlreadyExists,
    UnknownDomain,
    UnknownList,
    configure_list,
    create_list,
    delete_list,
    get_list,
)


def test_created_list_has_mailman_defaults(mlist):
    assert mlist.fqdn_listname == "ant@example.com"
    assert mlist.list_id == "ant.example.com"
    assert mlist.display_name == "Ant"
    assert mlist.subject_prefix == "[ant] "
    assert mlist.default_nonmember_action == "hold"
    assert mlist.subscription_policy == "confirm"


def test_list_names_are_unique_per_domain(mlist):
    with pytest.raises(ListAlreadyExists):
        create_list("ANT@example.com")


def test_list_in_unknown_domain_is_refused(db):
    with pytest.raises(UnknownDomain):
        create_list("ant@nowhere.example")
    assert not MailingList.objects.exists()


@pytest.mark.parametrize("name", ["", "noat", "bad name@example.com", "x-request@example.com", "a+b@example.com"])
def test_invalid_list_names_are_refused(domain, name):
    with pytest.raises(InvalidListName):
        create_list(name)


def test_get_list_is_case_insensitive_and_unknown_lists_raise(mlist):
    assert get_list("Ant@Example.COM") == mlist
    with pytest.raises(UnknownList):
        get_list("bee@example.com")


def test_configure_applies_all_or_nothing(mlist):
    with pytest.raises(InvalidSetting) as caught:
        configure_list(mlist, max_message_size=100, archive_policy="sometimes")
    assert "archive_policy" in caught.value.errors
    mlist.refresh_from_db()
    assert mlist.max_message_size == 40


def test_unknown_and_read_only_settings_are_refused(mlist):
    with pytest.raises(InvalidSetting) as caught:
        configure_list(mlist, list_name="other", colour="blue")
    assert set(caught.value.errors) == {"list_name", "colour"}


def test_moderator_password_is_stored_hashed(mlist):
    configure_list(mlist, moderator_password="s3cret")
    mlist.refresh_from_db()
    assert "s3cret" not in mlist.moderator_password


def test_delete_list_removes_its_memberships(mlist, member):
    delete_list(mlist)
    assert not MailingList.objects.filter(list_name="ant").exists()
