"""The Django admin: every registered model's pages, and writes that go
through the services."""

import datetime
import uuid
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group
from django.db import models
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from lists.models import Domain, MailingList
from lists.services import configure_list, create_list
from mailman_site import events
from members.models import Address, Ban, Membership, Role
from members.services import ban, get_or_create_address, subscribe

MODEL_ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODEL_IDS = [model._meta.label_lower for model, _ in MODEL_ADMINS]


def admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def sample_value(field: models.Field) -> Any:
    """A valid value for a required field of a model this suite does not know."""
    if field.is_relation:
        return any_row(field.related_model)
    if field.choices:
        return field.choices[0][0]
    samples = [
        (models.EmailField, f"{uuid.uuid4().hex[:12]}@example.com"),
        (models.GenericIPAddressField, "127.0.0.1"),
        (models.UUIDField, uuid.uuid4()),
        (models.DateTimeField, timezone.now()),
        (models.DateField, datetime.date.today()),
        (models.BooleanField, False),
        (models.IntegerField, 1),
        (models.DecimalField, 1),
        (models.FloatField, 1.0),
        (models.JSONField, {}),
        (models.BinaryField, b""),
    ]
    for field_class, value in samples:
        if isinstance(field, field_class):
            return value
    return uuid.uuid4().hex[: field.max_length or 32]


def any_row(model: type[models.Model]) -> models.Model:
    """A row of `model`: an existing one, or one with every required field filled."""
    existing = model._default_manager.order_by("pk").first()
    if existing is not None:
        return existing
    values = {
        field.name: sample_value(field)
        for field in model._meta.concrete_fields
        if not (field.auto_created or field.has_default() or field.null or field.blank)
        and not getattr(field, "auto_now", False)
        and not getattr(field, "auto_now_add", False)
    }
    return model._default_manager.create(**values)


@pytest.fixture
def rows(mlist, owner, member, site_admin):
    """Rows of our models built the way the site builds them."""
    ban(mlist, "spammer@example.net")
    ban(None, "^.*@spam\\.example$")
    Group.objects.create(name="moderators")


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


def admin_request(user, path: str = "/"):
    request = RequestFactory().get(path)
    request.user = user
    return request


def form_data(response) -> dict[str, Any]:
    """The admin form (and its inlines) as a browser would post it unchanged."""
    forms = [response.context["adminform"].form]
    data: dict[str, Any] = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.extend(formset.forms)
        data.update({formset.management_form.add_prefix(k): v for k, v in formset.management_form.initial.items()})
    for form in forms:
        for name, field in form.fields.items():
            if field.disabled:
                continue
            value = form[name].value()
            if value is True:
                data[form.add_prefix(name)] = "on"
            elif value not in (None, False):
                data[form.add_prefix(name)] = value
    return data


def form_errors(response) -> dict:
    assert response.status_code == 200, "expected the form again, with errors"
    form = response.context["adminform"].form
    errors = dict(form.errors)
    assert errors
    return errors


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_changelist_loads(admin_client, rows, model, model_admin):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_add_page_loads_where_adding_is_allowed(admin_client, site_admin, rows, model, model_admin):
    # Some third-party models (oauth2 tokens) are made by their flows, never added by hand.
    expected = 200 if model_admin.has_add_permission(admin_request(site_admin)) else 403
    assert admin_client.get(admin_url(model, "add")).status_code == expected


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_change_page_of_a_real_row_loads(admin_client, rows, model, model_admin):
    row = any_row(model)
    assert admin_client.get(admin_url(model, "change", row.pk)).status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_changelist_search_works(admin_client, site_admin, rows, model, model_admin):
    if not model_admin.get_search_fields(admin_request(site_admin)):
        pytest.skip(f"{model._meta.label} has no search")
    for query in ("example", "no-such-thing-anywhere", "ünïcode %_'\""):
        assert admin_client.get(admin_url(model, "changelist"), {"q": query}).status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_every_filter_choice_works(admin_client, site_admin, rows, model, model_admin):
    url = admin_url(model, "changelist")
    changelist = model_admin.get_changelist_instance(admin_request(site_admin, url))
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            response = admin_client.get(url + choice["query_string"])
            # An invalid lookup redirects to "?e=1" instead of failing.
            assert response.status_code == 200, (spec.title, choice["query_string"])


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=MODEL_IDS)
def test_non_staff_are_sent_to_log_in(client, stranger, model, model_admin):
    url = admin_url(model, "changelist")
    for user in (None, stranger):
        if user is not None:
            client.force_login(user)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    ("model", "query", "found", "not_found"),
    [
        (MailingList, "ant", "ant@example.com", None),
        (Membership, "member@", "member@example.org", "owner@example.org"),
        (Address, "owner", "owner@example.org", "member@example.org"),
        (Ban, "spammer", "spammer@example.net", "spam\\.example"),
        (Domain, "example.com", "example.com", None),
    ],
)
def test_search_finds_the_matching_rows(admin_client, rows, model, query, found, not_found):
    content = admin_client.get(admin_url(model, "changelist"), {"q": query}).content.decode()
    assert found in content
    if not_found:
        assert not_found not in content


@pytest.mark.parametrize("model", [MailingList, Membership, Address, Ban, Domain])
def test_changelist_queries_do_not_grow_with_rows(admin_client, domain, model, django_assert_max_num_queries):
    def changelist_queries() -> int:
        with django_assert_max_num_queries(50) as captured:
            admin_client.get(admin_url(model, "changelist"))
        return len(captured)

    create_list("ant@example.com")
    few = changelist_queries()
    for number in range(10):
        mlist = create_list(f"list{number}@example.com")
        subscribe(mlist, f"member{number}@example.org")
        ban(mlist, f"banned{number}@example.org")
    assert changelist_queries() == few


def test_list_roster_link_filters_memberships(admin_client, rows, mlist):
    other = create_list("bee@example.com")
    subscribe(other, "bee-member@example.org")
    response = admin_client.get(admin_url(MailingList, "change", mlist.pk))
    assert "mailing_list__id__exact" in response.content.decode()
    content = admin_client.get(admin_url(Membership, "changelist"), {"mailing_list__id__exact": mlist.pk})
    assert "member@example.org" in content.content.decode()
    assert "bee-member@example.org" not in content.content.decode()


def test_creating_a_list_goes_through_the_service(admin_client, domain, django_capture_on_commit_callbacks):
    created = []
    events.list_created.connect(lambda sender, mailing_list, **kw: created.append(mailing_list), weak=False)
    data = form_data(admin_client.get(admin_url(MailingList, "add")))
    data.update(
        domain=domain.pk,
        list_name="bee",
        description="Bees",
        owners="Queen Bee <queen@example.org>\nqueen@EXAMPLE.org\n",
        new_moderator_password="correct horse battery",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(MailingList, "add"), data)
    assert response.status_code == 302
    mlist = MailingList.objects.get(list_name="bee")
    assert [m.fqdn_listname for m in created] == ["bee@example.com"]
    # Defaults that only create_list sets.
    assert mlist.display_name == "Bee"
    assert mlist.subject_prefix == "[bee] "
    owners = Membership.objects.filter(mailing_list=mlist, role=Role.OWNER)
    assert [m.address.email for m in owners] == ["queen@example.org"]
    assert mlist.moderator_password != "correct horse battery"
    assert check_password("correct horse battery", mlist.moderator_password)


def test_moderator_password_is_never_shown(admin_client, mlist):
    from lists.services import configure_list

    configure_list(mlist, moderator_password="correct horse battery")
    mlist.refresh_from_db()
    content = admin_client.get(admin_url(MailingList, "change", mlist.pk)).content.decode()
    assert mlist.moderator_password not in content
    assert "correct horse battery" not in content
    assert 'type="password"' in content


def test_changing_a_list_goes_through_the_service(admin_client, mlist, django_capture_on_commit_callbacks):
    changes = []
    events.list_configured.connect(lambda sender, changed, **kw: changes.append(changed), weak=False)
    data = form_data(admin_client.get(admin_url(MailingList, "change", mlist.pk)))
    data.update(display_name="Ants!", new_moderator_password="another long secret")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(MailingList, "change", mlist.pk), data)
    assert response.status_code == 302
    mlist.refresh_from_db()
    assert mlist.display_name == "Ants!"
    assert check_password("another long secret", mlist.moderator_password)
    assert changes == [["display_name", "moderator_password"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"list_name": "bad name"}, "list_name"),
        ({"list_name": "ant"}, "__all__"),
        ({"list_name": "x-request"}, "list_name"),
        ({"list_name": "ok", "owners": "not an address"}, "owners"),
        ({"list_name": "ok", "subscription_policy": "whatever"}, "subscription_policy"),
        ({"list_name": "y" * 500}, "list_name"),
    ],
)
def test_bad_input_when_adding_a_list_is_a_form_error(admin_client, mlist, changes, field):
    data = form_data(admin_client.get(admin_url(MailingList, "add")))
    data.update(domain=mlist.domain.pk, **changes)
    errors = form_errors(admin_client.post(admin_url(MailingList, "add"), data))
    assert field in errors
    assert MailingList.objects.count() == 1


def test_bad_setting_when_changing_a_list_is_a_form_error(admin_client, mlist):
    data = form_data(admin_client.get(admin_url(MailingList, "change", mlist.pk)))
    data.update(max_message_size="-1", reply_to_address="not an address")
    errors = form_errors(admin_client.post(admin_url(MailingList, "change", mlist.pk), data))
    assert {"max_message_size", "reply_to_address"} <= set(errors)


def test_deleting_lists_with_the_admin_action(admin_client, rows, mlist, django_capture_on_commit_callbacks):
    deleted = []
    events.list_deleted.connect(lambda sender, fqdn_listname, **kw: deleted.append(fqdn_listname), weak=False)
    other = create_list("bee@example.com")
    url = admin_url(MailingList, "changelist")
    action = {"action": "delete_selected", "_selected_action": [mlist.pk, other.pk]}
    confirmation = admin_client.post(url, action)
    assert confirmation.status_code == 200
    assert "memberships" in confirmation.content.decode().lower()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {**action, "post": "yes"})
    assert response.status_code == 302
    assert not MailingList.objects.exists()
    assert not Membership.objects.exists()
    assert sorted(deleted) == ["ant@example.com", "bee@example.com"]


def test_delete_page_counts_the_roster_instead_of_listing_it(admin_client, mlist):
    for number in range(30):
        subscribe(mlist, f"m{number}@example.org")
    response = admin_client.get(admin_url(MailingList, "delete", mlist.pk))
    content = response.content.decode()
    assert response.status_code == 200
    assert "m17@example.org" not in content
    assert "30" in content


def test_owner_inline_shows_owners_and_moderators_only(admin_client, owner, member, mlist):
    response = admin_client.get(admin_url(MailingList, "change", mlist.pk))
    [inline] = [i for i in response.context["inline_admin_formsets"] if i.formset.model is Membership]
    assert [m.address.email for m in inline.formset.queryset] == ["owner@example.org"]


def test_owner_added_in_the_inline_is_subscribed_by_the_service(admin_client, owner, mlist):
    moderator = get_or_create_address("mod@example.org")
    data = form_data(admin_client.get(admin_url(MailingList, "change", mlist.pk)))
    data.update({"memberships-1-address": moderator.pk, "memberships-1-role": Role.MODERATOR})
    response = admin_client.post(admin_url(MailingList, "change", mlist.pk), data)
    assert response.status_code == 302
    assert Membership.objects.filter(mailing_list=mlist, address=moderator, role=Role.MODERATOR).exists()


def test_owner_inline_changes_and_removals_go_through_the_service(admin_client, owner, mlist):
    subscribe(mlist, "second-owner@example.org", role=Role.OWNER)
    data = form_data(admin_client.get(admin_url(MailingList, "change", mlist.pk)))
    rows = {data[f"memberships-{n}-id"]: n for n in range(2)}
    first, second = (
        Membership.objects.get(address__email=e, role=Role.OWNER).pk for e in (owner.email, "second-owner@example.org")
    )
    data[f"memberships-{rows[first]}-role"] = Role.MODERATOR
    data[f"memberships-{rows[second]}-DELETE"] = "on"
    assert admin_client.post(admin_url(MailingList, "change", mlist.pk), data).status_code == 302
    assert Membership.objects.get(pk=first).role == Role.MODERATOR
    assert not Membership.objects.filter(pk=second).exists()


def test_membership_for_a_banned_address_is_a_form_error(admin_client, mlist):
    ban(mlist, "spammer@example.net")
    address = get_or_create_address("spammer@example.net")
    data = form_data(admin_client.get(admin_url(Membership, "add")))
    data.update(mailing_list=mlist.pk, address=address.pk, role=Role.MEMBER)
    errors = form_errors(admin_client.post(admin_url(Membership, "add"), data))
    assert "may not subscribe" in str(errors["address"])
    assert not Membership.objects.exists()


def test_adding_a_membership_goes_through_the_service(admin_client, mlist):
    address = get_or_create_address("new@example.org")
    data = form_data(admin_client.get(admin_url(Membership, "add")))
    data.update(mailing_list=mlist.pk, address=address.pk, role=Role.MEMBER)
    assert admin_client.post(admin_url(Membership, "add"), data).status_code == 302
    assert Membership.objects.get(address=address).delivery_mode == "regular"


def test_changing_a_membership_goes_through_the_service(admin_client, member, mlist):
    membership = Membership.objects.get(address__email=member.email)
    data = form_data(admin_client.get(admin_url(Membership, "change", membership.pk)))
    data.update(delivery_status="by_moderator", moderation_action="hold")
    assert admin_client.post(admin_url(Membership, "change", membership.pk), data).status_code == 302
    membership.refresh_from_db()
    assert (membership.delivery_status, membership.moderation_action) == ("by_moderator", "hold")


def test_deleting_a_membership(admin_client, member, mlist):
    membership = Membership.objects.get(address__email=member.email)
    response = admin_client.post(admin_url(Membership, "delete", membership.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_adding_a_domain_goes_through_the_service(admin_client, db):
    response = admin_client.post(admin_url(Domain, "add"), {"mail_host": "Lists.Example.NET", "web_host": ""})
    assert response.status_code == 302
    assert Domain.objects.get().mail_host == "lists.example.net"


def test_changing_a_domain_goes_through_the_service(admin_client, domain):
    data = {"web_host": "WWW.Example.com", "description": "Changed"}
    assert admin_client.post(admin_url(Domain, "change", domain.pk), data).status_code == 302
    domain.refresh_from_db()
    assert (domain.mail_host, domain.web_host, domain.description) == ("example.com", "www.example.com", "Changed")


def test_domain_with_lists_is_not_deleted(admin_client, mlist):
    response = admin_client.post(admin_url(Domain, "delete", mlist.domain.pk), {"post": "yes"})
    assert response.status_code == 200
    assert "ant@example.com" in response.content.decode()
    assert Domain.objects.exists()


def test_domain_without_lists_is_deleted(admin_client, domain):
    assert admin_client.post(admin_url(Domain, "delete", domain.pk), {"post": "yes"}).status_code == 302
    assert not Domain.objects.exists()


@pytest.mark.parametrize("mail_host", ["not a domain", "-bad-.example", "x" * 300])
def test_bad_domain_is_a_form_error(admin_client, db, mail_host):
    errors = form_errors(admin_client.post(admin_url(Domain, "add"), {"mail_host": mail_host}))
    assert "mail_host" in errors
    assert not Domain.objects.exists()


def test_ban_added_and_lifted_in_the_admin(admin_client, mlist):
    response = admin_client.post(admin_url(Ban, "add"), {"mailing_list": mlist.pk, "email": " Spammer@Example.NET "})
    assert response.status_code == 302
    row = Ban.objects.get()
    assert row.email == "spammer@example.net"
    admin_client.post(admin_url(Ban, "delete", row.pk), {"post": "yes"})
    assert not Ban.objects.exists()


@pytest.mark.parametrize("pattern", ["^(unclosed", "not an address"])
def test_bad_ban_is_a_form_error(admin_client, db, pattern):
    errors = form_errors(admin_client.post(admin_url(Ban, "add"), {"email": pattern}))
    assert "email" in errors
    assert not Ban.objects.exists()


def test_address_added_verified_and_linked(admin_client, stranger):
    data = {"email": "New@Example.org", "display_name": "New", "verify": "on", "user": stranger.pk}
    assert admin_client.post(admin_url(Address, "add"), data).status_code == 302
    address = Address.objects.get(email="new@example.org")
    assert (address.original_email, address.verified, address.user) == ("New@Example.org", True, stranger)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"email": "owner@EXAMPLE.org"}, "email"),
        ({"email": "a@example.org\nBcc: b@example.org"}, "email"),
        ({"email": "x" * 300 + "@example.org"}, "email"),
    ],
)
def test_bad_address_is_a_form_error(admin_client, owner, data, field):
    before = Address.objects.count()
    errors = form_errors(admin_client.post(admin_url(Address, "add"), data))
    assert field in errors
    assert Address.objects.count() == before


def test_unverified_address_cannot_be_linked_to_an_account(admin_client, stranger):
    data = {"email": "fresh@example.org", "user": stranger.pk}
    assert "user" in form_errors(admin_client.post(admin_url(Address, "add"), data))
    assert not Address.objects.filter(email="fresh@example.org").exists()


def test_address_unlinked_from_its_account(admin_client, owner):
    address = owner.addresses.get()
    data = form_data(admin_client.get(admin_url(Address, "change", address.pk)))
    data["user"] = ""
    assert admin_client.post(admin_url(Address, "change", address.pk), data).status_code == 302
    address.refresh_from_db()
    assert (address.user, address.verified) == (None, True)


def test_deleting_an_address_removes_its_memberships(admin_client, member, mlist):
    address = member.addresses.get()
    assert admin_client.post(admin_url(Address, "delete", address.pk), {"post": "yes"}).status_code == 302
    assert not Address.objects.filter(pk=address.pk).exists()
    assert not Membership.objects.filter(address_id=address.pk).exists()


def test_address_marked_verified_by_the_action(admin_client, mlist):
    address = subscribe(mlist, "unverified@example.org").address
    url = admin_url(Address, "changelist")
    admin_client.post(url, {"action": "mark_verified", "_selected_action": [address.pk]})
    address.refresh_from_db()
    assert address.verified


def test_owners_wording_of_a_mail_is_saved_through_the_service(admin_client, mlist):
    from lists.models import ListTemplate, TemplateName

    name = TemplateName.values[0]
    response = admin_client.post(
        admin_url(ListTemplate, "add"), {"mailing_list": mlist.pk, "name": name, "text": "Hello $display_name"}
    )
    assert response.status_code == 302
    assert ListTemplate.objects.get(mailing_list=mlist, name=name).text == "Hello $display_name"


def test_pending_subscription_requests_are_approved_in_admin(admin_client, mlist):
    from members.models import RequestStatus, SubscriptionRequest
    from members.workflows import request_subscription

    configure_list(mlist, subscription_policy="moderate")
    request_subscription(mlist, "joiner@example.net", pre_verified=True)
    pending = SubscriptionRequest.objects.get()
    admin_client.post(
        admin_url(SubscriptionRequest, "changelist"), {"action": "approve", "_selected_action": [pending.pk]}
    )
    pending.refresh_from_db()
    assert pending.status == RequestStatus.APPROVED
    assert Membership.objects.filter(address__email="joiner@example.net", role="member").exists()
