""" "My subscriptions": a person's memberships through all their verified
addresses, their delivery and preferences, and leaving with one button."""

import pytest
from django.test import Client

from lists.services import configure_list, create_list
from members.models import DeliveryStatus, Membership, Role
from members.services import link_address, subscribe, update_membership, verify_address

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

PAGE = "/subscriptions/"


@pytest.fixture
def bee(domain):
    return create_list("bee@example.com", display_name="Bees")


@pytest.fixture
def membership(member, mlist) -> Membership:
    return Membership.objects.get(mailing_list=mlist, address__email="member@example.org", role=Role.MEMBER)


@pytest.fixture
def member_client(client, member) -> Client:
    client.force_login(member)
    return client


def choices(membership: Membership, **changes) -> dict:
    """The form as the page sends it: ticked boxes only."""
    data = {
        "delivery_mode": membership.delivery_mode,
        "no_mail": membership.delivery_status != DeliveryStatus.ENABLED,
        "receive_own_postings": membership.receive_own_postings,
        "receive_list_copy": membership.receive_list_copy,
        "acknowledge_posts": membership.acknowledge_posts,
        "hide_address": membership.hide_address,
        **changes,
    }
    return {name: ("on" if value is True else value) for name, value in data.items() if value is not False}


def update(client, membership, **changes):
    return client.post(f"{PAGE}{membership.pk}/", choices(membership, **changes))


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/subscriptions/"


def test_the_page_lists_memberships_of_every_verified_address(member_client, member, mlist, bee):
    verify_address("second@example.org", member)
    subscribe(bee, "second@example.org")
    content = member_client.get(PAGE).content.decode()
    assert "ant@example.com, as member@example.org" in content
    assert "bee@example.com, as second@example.org" in content


def test_an_unverified_address_grants_nothing(member_client, member, bee):
    subscribe(bee, "claimed@example.org")
    link_address(member, "claimed@example.org")
    content = member_client.get(PAGE).content.decode()
    assert "bee@example.com" not in content
    assert "not verified yet" in content
    bees = Membership.objects.get(address__email="claimed@example.org")
    assert member_client.post(f"{PAGE}{bees.pk}/leave/").status_code == 404
    assert Membership.objects.filter(pk=bees.pk).exists()


def test_other_peoples_memberships_are_never_shown(member_client, owner, mlist, bee):
    subscribe(bee, "someone@example.net")
    content = member_client.get(PAGE).content.decode()
    assert "someone@example.net" not in content
    assert "owner@example.org" not in content


def test_someone_without_memberships_is_told_so(client, stranger):
    client.force_login(stranger)
    assert "None of your verified addresses" in client.get(PAGE).content.decode()


def test_owners_find_their_lists_there(client, owner):
    client.force_login(owner)
    content = client.get(PAGE).content.decode()
    assert "Lists you help run" in content
    assert 'href="/lists/ant.example.com/roster/"' in content


@pytest.mark.parametrize("mode", ["plaintext_digests", "mime_digests", "regular"])
def test_member_changes_the_delivery_mode(member_client, membership, mode):
    response = update(member_client, membership, delivery_mode=mode)
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#membership-{membership.pk}"
    membership.refresh_from_db()
    assert membership.delivery_mode == mode


def test_member_stops_and_restarts_their_mail(member_client, membership):
    update(member_client, membership, no_mail=True)
    membership.refresh_from_db()
    assert membership.delivery_status == DeliveryStatus.BY_USER
    update(member_client, membership, no_mail=False)
    membership.refresh_from_db()
    assert membership.delivery_status == DeliveryStatus.ENABLED


def test_member_sets_their_preferences(member_client, membership):
    update(
        member_client,
        membership,
        receive_own_postings=False,
        receive_list_copy=False,
        acknowledge_posts=True,
        hide_address=False,
    )
    membership.refresh_from_db()
    assert (
        membership.receive_own_postings,
        membership.receive_list_copy,
        membership.acknowledge_posts,
        membership.hide_address,
    ) == (False, False, True, False)


def test_the_page_shows_the_saved_choices(member_client, membership):
    update(member_client, membership, delivery_mode="mime_digests", acknowledge_posts=True)
    content = member_client.get(PAGE).content.decode()
    assert f'value="mime_digests" required id="m{membership.pk}_delivery_mode_2" checked' in content
    assert f'name="acknowledge_posts" id="m{membership.pk}_acknowledge_posts" checked' in content


def test_an_unchanged_form_changes_nothing(member_client, membership, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert update(member_client, membership).status_code == 302
    assert callbacks == [], "no member_changed event for no change"


def test_digests_are_not_offered_where_the_list_has_none(member_client, mlist, membership):
    configure_list(mlist, digestable=False)
    assert "mime_digests" not in member_client.get(PAGE).content.decode()
    response = update(member_client, membership, delivery_mode="mime_digests")
    assert response.status_code == 400
    membership.refresh_from_db()
    assert membership.delivery_mode == "regular"


@pytest.mark.parametrize("mode", ["summary_digests", "<script>x</script>", "", "regular\x00"])
def test_a_mode_the_page_does_not_offer_is_refused(member_client, membership, mode):
    response = update(member_client, membership, delivery_mode=mode, acknowledge_posts=True)
    assert response.status_code == 400
    assert "<script>x" not in response.content.decode()
    membership.refresh_from_db()
    assert (membership.delivery_mode, membership.acknowledge_posts) == ("regular", False)


def test_a_mode_an_owner_set_stays_selectable(member_client, membership):
    update_membership(membership, delivery_mode="summary_digests")
    assert update(member_client, membership, acknowledge_posts=True).status_code == 302
    membership.refresh_from_db()
    assert (membership.delivery_mode, membership.acknowledge_posts) == ("summary_digests", True)


def test_mail_a_moderator_stopped_stays_stopped(member_client, membership):
    update_membership(membership, delivery_status=DeliveryStatus.BY_MODERATOR)
    assert "A moderator stopped your mail" in member_client.get(PAGE).content.decode()
    update(member_client, membership, no_mail=False)
    membership.refresh_from_db()
    assert membership.delivery_status == DeliveryStatus.BY_MODERATOR


def test_mail_stopped_by_bounces_can_be_turned_on_again(member_client, membership):
    update_membership(membership, delivery_status=DeliveryStatus.BY_BOUNCES)
    update(member_client, membership, no_mail=False)
    membership.refresh_from_db()
    assert membership.delivery_status == DeliveryStatus.ENABLED


def test_nobody_changes_another_persons_membership(client, stranger, membership):
    client.force_login(stranger)
    assert update(client, membership, delivery_mode="mime_digests").status_code == 404
    assert client.post(f"{PAGE}{membership.pk}/leave/").status_code == 404
    membership.refresh_from_db()
    assert membership.delivery_mode == "regular"


def test_owner_roles_are_not_changed_or_left_here(client, owner, mlist):
    client.force_login(owner)
    owning = Membership.objects.get(mailing_list=mlist, role=Role.OWNER)
    assert client.post(f"{PAGE}{owning.pk}/leave/").status_code == 404
    assert Membership.objects.filter(pk=owning.pk).exists()


def test_member_leaves_with_one_click_and_is_sent_goodbye(
    member_client, membership, smtp_sink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(f"{PAGE}{membership.pk}/leave/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    [goodbye] = smtp_sink.to("member@example.org")
    assert "You have left" in str(goodbye.message["Subject"])
    assert "member@example.org has left" in member_client.get(PAGE).content.decode()


def test_leaving_needs_no_mailed_confirmation_when_signed_in(member_client, mlist, membership, smtp_sink):
    configure_list(mlist, unsubscription_policy="confirm")
    member_client.post(f"{PAGE}{membership.pk}/leave/")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_leaving_twice_is_not_found(member_client, membership):
    member_client.post(f"{PAGE}{membership.pk}/leave/")
    assert member_client.post(f"{PAGE}{membership.pk}/leave/").status_code == 404


def test_a_get_changes_nothing(member_client, membership):
    assert member_client.get(f"{PAGE}{membership.pk}/leave/").status_code == 405
    assert member_client.get(f"{PAGE}{membership.pk}/").status_code == 405
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_posts_need_the_csrf_token(member, membership):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(f"{PAGE}{membership.pk}/leave/").status_code == 403
    assert update(client, membership, delivery_mode="mime_digests").status_code == 403
    membership.refresh_from_db()
    assert membership.delivery_mode == "regular"


def test_the_public_roster_follows_the_hide_address_choice(member_client, client, mlist, membership):
    configure_list(mlist, member_roster_visibility="public")
    roster = "/lists/ant.example.com/roster/"
    assert "member@example.org" not in Client().get(roster).content.decode()
    update(member_client, membership, hide_address=False)
    assert "member@example.org" in Client().get(roster).content.decode()
