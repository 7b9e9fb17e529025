import pytest

from mailman_site import events
from members.models import Address, Ban, Membership, Role
from members.services import (
    AlreadySubscribed,
    BannedAddress,
    InvalidAddress,
    InvalidBan,
    InvalidMembershipChange,
    NotSubscribed,
    ban,
    bulk_subscribe,
    bulk_unsubscribe,
    is_banned,
    parse_address,
    subscribe,
    unban,
    unsubscribe,
    update_membership,
    verify_address,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann@example.com", ("ann@example.com", "")),
        ("Ann@Example.COM Ann Example", ("ann@example.com", "Ann Example")),
        ('"Ann Example" <Ann@example.com>', ("ann@example.com", "Ann Example")),
        ("  ann@example.com  ", ("ann@example.com", "")),
    ],
)
def test_addresses_are_parsed_in_every_accepted_form(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "ann", "ann@", "@example.com", "ann@example.com\r\nBcc: x@y.z", "a\x00@b.c"])
def test_invalid_addresses_are_refused(text):
    with pytest.raises(InvalidAddress):
        parse_address(text)


def test_addresses_are_unique_case_insensitively_and_keep_their_spelling(mlist):
    subscribe(mlist, "Ann@Example.com")
    subscribe(mlist, "ANN@example.com", role=Role.MODERATOR)
    address = Address.objects.get()
    assert address.email == "ann@example.com"
    assert address.original_email == "Ann@Example.com"


def test_subscribing_twice_with_the_same_role_is_refused(mlist):
    subscribe(mlist, "ann@example.com")
    with pytest.raises(AlreadySubscribed):
        subscribe(mlist, "ANN@example.com")
    assert Membership.objects.filter(role=Role.MEMBER).count() == 1


def test_one_address_may_hold_several_roles(mlist):
    subscribe(mlist, "ann@example.com")
    subscribe(mlist, "ann@example.com", role=Role.OWNER)
    assert set(Membership.objects.values_list("role", flat=True)) == {"member", "owner"}


def test_digest_lists_subscribe_to_digests_by_default(mlist):
    mlist.digest_is_default = True
    mlist.mime_is_default_digest = True
    assert subscribe(mlist, "ann@example.com").delivery_mode == "mime_digests"


def test_unsubscribe_removes_only_that_role(mlist):
    subscribe(mlist, "ann@example.com")
    subscribe(mlist, "ann@example.com", role=Role.OWNER)
    unsubscribe(mlist, "Ann@example.com")
    assert list(Membership.objects.values_list("role", flat=True)) == ["owner"]
    with pytest.raises(NotSubscribed):
        unsubscribe(mlist, "ann@example.com")


def test_update_membership_validates_every_field_before_changing_any(mlist):
    membership = subscribe(mlist, "ann@example.com")
    with pytest.raises(InvalidMembershipChange) as caught:
        update_membership(membership, delivery_mode="plaintext_digests", delivery_status="sleepy")
    assert set(caught.value.errors) == {"delivery_status"}
    membership.refresh_from_db()
    assert membership.delivery_mode == "regular"


def test_changing_to_a_role_already_held_is_refused(mlist):
    subscribe(mlist, "ann@example.com", role=Role.OWNER)
    membership = subscribe(mlist, "ann@example.com")
    with pytest.raises(AlreadySubscribed):
        update_membership(membership, role=Role.OWNER)


def test_banned_address_cannot_subscribe_and_is_not_told_the_pattern(mlist):
    ban(None, "^.*@spam\\.example$")
    with pytest.raises(BannedAddress) as caught:
        subscribe(mlist, "eve@spam.example")
    assert "spam\\." not in str(caught.value)
    assert "site" not in str(caught.value)


def test_list_bans_apply_to_that_list_only(mlist, domain):
    from lists.services import create_list

    other = create_list("bee@example.com")
    ban(mlist, "Eve@Example.com")
    assert is_banned(mlist, "eve@example.com")
    assert not is_banned(other, "eve@example.com")
    assert unban(mlist, "eve@example.com")
    assert not is_banned(mlist, "eve@example.com")


def test_bad_ban_patterns_are_refused(mlist):
    with pytest.raises(InvalidBan):
        ban(mlist, "^(unclosed")
    with pytest.raises(InvalidBan):
        ban(mlist, "not an address")


def test_ban_patterns_ignore_case(mlist):
    ban(mlist, "^.*@SPAM\\.example$")
    assert is_banned(mlist, "Eve@Spam.Example")
    assert not is_banned(mlist, "eve@spam.example.org")


def test_a_pattern_built_to_backtrack_forever_answers_at_once(mlist):
    # With Python's re this check would take longer than the age of the
    # universe; RE2 matches in time linear in the address.
    ban(mlist, "^(a+)+$")
    assert not is_banned(mlist, "a" * 60 + "@example.com")
    assert is_banned(mlist, "aaaa")


def test_a_pattern_re2_cannot_match_is_refused_with_the_reason(mlist):
    with pytest.raises(InvalidBan, match="invalid escape sequence"):
        ban(mlist, "^(.)\\1@example\\.com$")


def test_a_stored_pattern_that_does_not_compile_bans_nobody(mlist):
    Ban.objects.create(mailing_list=mlist, email="^(?<=x)")
    ban(mlist, "eve@example.com")
    assert is_banned(mlist, "eve@example.com")
    assert not is_banned(mlist, "ann@example.com")


def test_bulk_subscribe_writes_nothing_when_a_line_is_invalid(mlist):
    result = bulk_subscribe(mlist, ["ann@example.com", "not-an-address", "bob@example.com"])
    assert result.invalid == [(2, "not-an-address", "not a valid email address")]
    assert not Membership.objects.filter(role=Role.MEMBER).exists()


def test_bulk_subscribe_reports_added_unchanged_and_banned(mlist):
    subscribe(mlist, "ann@example.com")
    ban(mlist, "eve@example.com")
    result = bulk_subscribe(
        mlist, ["ann@example.com", "Bob <bob@example.com>", "# a comment", "", "bob@example.com", "eve@example.com"]
    )
    assert result.added == ["bob@example.com"]
    assert sorted(result.unchanged) == ["ann@example.com", "bob@example.com"]
    assert result.banned == ["eve@example.com"]
    assert Address.objects.get(email="bob@example.com").display_name == "Bob"


def test_bulk_unsubscribe_reports_who_was_not_there(mlist):
    bulk_subscribe(mlist, ["ann@example.com", "bob@example.com"])
    result = bulk_unsubscribe(mlist, ["ann@example.com", "cat@example.com"])
    assert result.removed == ["ann@example.com"]
    assert result.unchanged == ["cat@example.com"]
    assert list(Membership.objects.filter(role=Role.MEMBER).values_list("address__email", flat=True)) == [
        "bob@example.com"
    ]


def test_verify_address_links_an_existing_address_to_the_user(mlist, stranger):
    subscribe(mlist, "Ann@example.com")
    address = verify_address("ann@example.com", stranger)
    assert address.verified
    assert address.user == stranger
    assert address.memberships.count() == 1


def test_events_are_sent_after_commit_only(mlist, django_capture_on_commit_callbacks):
    received = []

    def on_added(sender, **payload):
        received.extend(payload["emails"])

    events.member_added.connect(on_added)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            subscribe(mlist, "ann@example.com")
        assert received == []
        for callback in callbacks:
            callback()
        assert received == ["ann@example.com"]
    finally:
        events.member_added.disconnect(on_added)


def test_member_preferences_are_yes_or_no(mlist):
    membership = subscribe(mlist, "ann@example.com")
    assert (membership.receive_own_postings, membership.acknowledge_posts, membership.hide_address) == (
        True,
        False,
        True,
    )
    update_membership(membership, acknowledge_posts=True, hide_address=False)
    membership.refresh_from_db()
    assert (membership.acknowledge_posts, membership.hide_address) == (True, False)
    with pytest.raises(InvalidMembershipChange) as caught:
        update_membership(membership, receive_own_postings="yes")
    assert set(caught.value.errors) == {"receive_own_postings"}
