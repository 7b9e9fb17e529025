"""The moderation and filters settings page: each group of settings changed
by an owner, the write-only moderator password, hostile input refused with
nothing changed, and who may open the page."""

import pytest
from django.contrib.auth.hashers import check_password
from django.forms import model_to_dict
from django.test import Client

from lists.models import MailingList
from lists.services import configure_list
from lists.settings_forms import ModerationSettingsForm
from mailman_site.events import list_configured
from tests.conftest import logged_in

PAGE = "/lists/ant.example.com/settings/moderation/"
LIST_PAGE = "/lists/ant.example.com/"


def as_browser_sends(mlist: MailingList) -> dict[str, str]:
    """The page's form, showing the list as it is now, as a browser submits
    it untouched: ticked boxes as "on", unticked ones left out, empty
    scores as ""."""
    data = {}
    shown = MailingList.objects.get(pk=mlist.pk)
    for name, value in ModerationSettingsForm(mlist=shown).initial.items():
        if value is True:
            data[name] = "on"
        elif value is not False:
            data[name] = "" if value is None else str(value)
    return data


def post(client: Client, mlist: MailingList, **changes):
    data = as_browser_sends(mlist)
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = "on" if value is True else value
    return client.post(PAGE, data)


def saved(mlist: MailingList) -> dict:
    return model_to_dict(MailingList.objects.get(pk=mlist.pk))


def test_owner_sees_the_settings_in_groups(owner_client, mlist):
    content = owner_client.get(PAGE).content.decode()
    for group in ["Posting moderation", "Notices", "Spam", "MIME filter", "DMARC"]:
        assert f"<legend>{group}</legend>" in content
    assert 'name="default_nonmember_action"' in content


def test_an_untouched_form_changes_nothing(owner_client, mlist):
    before = saved(mlist)
    response = post(owner_client, mlist)
    assert response.status_code == 302
    assert saved(mlist) == before
    assert "Nothing was changed." in owner_client.get(PAGE).content.decode()


@pytest.fixture
def configured():
    """The settings each list_configured event names, once its transaction commits."""
    changes: list[list[str]] = []

    def record(sender, mailing_list, changed, **payload):
        changes.append(changed)

    list_configured.connect(record)
    yield changes
    list_configured.disconnect(record)


def test_only_the_changed_settings_are_saved(owner_client, mlist, configured, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(owner_client, mlist, emergency=True, spam_hold_score="5", filter_types="")
        post(owner_client, mlist, new_moderator_password="secret", emergency=True)
        post(owner_client, mlist)
    assert configured == [["emergency"], ["moderator_password"]]


def test_owner_changes_posting_moderation(owner_client, mlist):
    response = post(
        owner_client,
        mlist,
        emergency=True,
        default_member_action="hold",
        default_nonmember_action="discard",
        max_message_size="100",
        max_num_recipients="0",
        require_explicit_destination=False,
        administrivia=False,
    )
    assert response.status_code == 302
    assert response["Location"] == PAGE
    mlist.refresh_from_db()
    assert mlist.emergency is True
    assert (mlist.default_member_action, mlist.default_nonmember_action) == ("hold", "discard")
    assert (mlist.max_message_size, mlist.max_num_recipients) == (100, 0)
    assert mlist.require_explicit_destination is False
    assert mlist.administrivia is False
    assert "settings are saved" in owner_client.get(PAGE).content.decode()


def test_owner_changes_the_notices(owner_client, mlist):
    post(
        owner_client,
        mlist,
        admin_immed_notify=False,
        respond_to_post_requests=False,
        send_moderation_summary=False,
        max_days_to_hold="30",
    )
    mlist.refresh_from_db()
    assert not (mlist.admin_immed_notify or mlist.respond_to_post_requests or mlist.send_moderation_summary)
    assert mlist.max_days_to_hold == 30


def test_owner_sets_the_spam_scores(owner_client, mlist):
    assert post(owner_client, mlist, spam_hold_score="3.5", spam_discard_score="12").status_code == 302
    mlist.refresh_from_db()
    assert (mlist.spam_hold_score, mlist.spam_discard_score) == (3.5, 12.0)


def test_an_empty_spam_score_means_never(owner_client, mlist):
    configure_list(mlist, spam_discard_score=20.0)
    post(owner_client, mlist, spam_hold_score="", spam_discard_score="")
    mlist.refresh_from_db()
    assert (mlist.spam_hold_score, mlist.spam_discard_score) == (None, None)


def test_owner_configures_the_mime_filter(owner_client, mlist):
    response = post(
        owner_client,
        mlist,
        filter_content=True,
        filter_types="text/html\r\n\r\n  image  \r\n",
        filter_extensions="exe\r\n.zip\r\n*.scr",
        pass_types="multipart\r\ntext/plain",
        pass_extensions="txt",
        collapse_alternatives=False,
        convert_html_to_plaintext=True,
        filter_action="forward",
    )
    assert response.status_code == 302
    mlist.refresh_from_db()
    assert mlist.filter_content is True
    assert mlist.filter_types == "text/html\nimage"
    assert mlist.filter_extensions == "exe\n.zip\n*.scr"
    assert (mlist.pass_types, mlist.pass_extensions) == ("multipart\ntext/plain", "txt")
    assert (mlist.collapse_alternatives, mlist.convert_html_to_plaintext) == (False, True)
    assert mlist.filter_action == "forward"


def test_owner_configures_dmarc_mitigation(owner_client, mlist):
    response = post(
        owner_client,
        mlist,
        dmarc_mitigate_action="wrap_message",
        dmarc_mitigate_unconditionally=True,
        dmarc_quarantine_moderation_action=False,
        dmarc_none_moderation_action=True,
        dmarc_moderation_notice="Your domain's policy\r\nkeeps your posts off this list.",
        dmarc_wrapped_message_text="A post from a DMARC domain.",
    )
    assert response.status_code == 302
    mlist.refresh_from_db()
    assert mlist.dmarc_mitigate_action == "wrap_message"
    assert mlist.dmarc_mitigate_unconditionally is True
    assert (mlist.dmarc_quarantine_moderation_action, mlist.dmarc_none_moderation_action) == (False, True)
    assert mlist.dmarc_moderation_notice == "Your domain's policy\nkeeps your posts off this list."
    assert mlist.dmarc_wrapped_message_text == "A post from a DMARC domain."


def test_the_moderator_password_is_stored_hashed_and_never_shown(owner_client, mlist):
    assert post(owner_client, mlist, new_moderator_password="Tr0ub4dor&3").status_code == 302
    mlist.refresh_from_db()
    assert mlist.moderator_password != "Tr0ub4dor&3"
    assert check_password("Tr0ub4dor&3", mlist.moderator_password)
    content = owner_client.get(PAGE).content.decode()
    assert "Tr0ub4dor" not in content
    assert mlist.moderator_password not in content
    assert "A moderator password is set." in content


def test_a_refused_form_does_not_show_the_typed_password_again(owner_client, mlist):
    response = post(owner_client, mlist, new_moderator_password="Tr0ub4dor&3", max_message_size="-1")
    assert response.status_code == 400
    assert "Tr0ub4dor" not in response.content.decode()


def test_a_blank_password_keeps_the_current_one(owner_client, mlist):
    configure_list(mlist, moderator_password="old secret")
    stored = saved(mlist)["moderator_password"]
    post(owner_client, mlist, new_moderator_password="", emergency=True)
    mlist.refresh_from_db()
    assert mlist.emergency is True
    assert mlist.moderator_password == stored
    assert check_password("old secret", mlist.moderator_password)


def test_owner_removes_the_moderator_password(owner_client, mlist):
    configure_list(mlist, moderator_password="old secret")
    post(owner_client, mlist, remove_moderator_password=True)
    mlist.refresh_from_db()
    assert mlist.moderator_password == ""


def test_setting_and_removing_the_password_at_once_is_refused(owner_client, mlist):
    configure_list(mlist, moderator_password="old secret")
    stored = saved(mlist)
    response = post(owner_client, mlist, new_moderator_password="new", remove_moderator_password=True)
    assert response.status_code == 400
    assert saved(mlist) == stored


HOSTILE = [
    ("spam_hold_score", "NaN"),
    ("spam_hold_score", "nan"),
    ("spam_hold_score", "inf"),
    ("spam_discard_score", "-Infinity"),
    ("spam_hold_score", "-1"),
    ("spam_hold_score", "1e308"),
    ("spam_discard_score", "1e309"),
    ("spam_hold_score", "five"),
    ("default_member_action", "approve_everything"),
    ("default_nonmember_action", ""),
    ("filter_action", "explode"),
    ("dmarc_mitigate_action", "munge"),
    ("max_message_size", "-1"),
    ("max_message_size", str(2**31)),
    ("max_num_recipients", "99999999999999999999999"),
    ("max_num_recipients", "1e3"),
    ("max_days_to_hold", "40000"),
    ("max_days_to_hold", ""),
    ("dmarc_moderation_notice", "x" * 1_000_000),
    ("dmarc_wrapped_message_text", "line\n" * 200_000),
    ("filter_types", "text/html\n" + "y" * 1_000_000),
    ("filter_types", "text/html; rm -rf /"),
    ("filter_extensions", "../../etc/passwd"),
    ("pass_types", "text/\x00html"),
    ("new_moderator_password", "p" * 129),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE, ids=lambda value: str(value)[:20])
def test_hostile_input_is_a_form_error_and_changes_nothing(owner_client, mlist, field, value):
    before = saved(mlist)
    # A valid change beside it is not applied either: all or nothing.
    response = post(owner_client, mlist, emergency=True, **{field: value})
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert saved(mlist) == before


def test_a_setting_stored_invalid_elsewhere_is_named_and_nothing_is_saved(owner_client, mlist):
    # As an import might leave it: configure_list validates the whole row.
    MailingList.objects.filter(pk=mlist.pk).update(confirmation_expiry_days=0)
    before = saved(mlist)
    response = post(owner_client, mlist, emergency=True)
    assert response.status_code == 400
    assert "confirmation_expiry_days:" in response.content.decode()
    assert saved(mlist) == before


def test_a_discard_score_below_the_hold_score_is_refused(owner_client, mlist):
    before = saved(mlist)
    response = post(owner_client, mlist, spam_hold_score="8", spam_discard_score="4")
    assert response.status_code == 400
    assert saved(mlist) == before


def test_text_is_shown_escaped(owner_client, mlist):
    post(owner_client, mlist, dmarc_moderation_notice="<script>alert(1)</script>")
    content = owner_client.get(PAGE).content.decode()
    assert "<script>alert(1)" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_a_post_without_the_csrf_token_is_refused(owner, mlist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = saved(mlist)
    assert post(client, mlist, emergency=True).status_code == 403
    assert saved(mlist) == before


def test_site_admins_change_the_settings(site_admin, mlist):
    client = logged_in(site_admin)
    assert client.get(PAGE).status_code == 200
    assert post(client, mlist, emergency=True).status_code == 302
    mlist.refresh_from_db()
    assert mlist.emergency is True


@pytest.mark.parametrize("who", ["member", "moderator", "other_owner", "stranger"])
def test_everyone_else_is_refused(request, owner, mlist, who):
    client = logged_in(request.getfixturevalue(who))
    before = saved(mlist)
    response = client.get(PAGE)
    assert response.status_code == 403
    assert "owner@example.org" not in response.content.decode()
    assert post(client, mlist, emergency=True, new_moderator_password="mine").status_code == 403
    assert saved(mlist) == before


def test_anonymous_visitors_are_sent_to_log_in(client, mlist):
    before = saved(mlist)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert post(client, mlist, emergency=True).status_code == 302
    assert saved(mlist) == before


def test_an_unknown_list_is_not_found(owner_client, mlist):
    assert owner_client.get(PAGE.replace("ant.example.com", "nope.example.com")).status_code == 404


def test_owners_find_the_settings_pages_in_the_menu(owner_client, mlist):
    content = owner_client.get(LIST_PAGE).content.decode()
    assert f'href="{PAGE}"' in content
    assert 'href="/lists/ant.example.com/settings/filters/"' in content


def test_moderators_do_not_see_the_settings_in_the_menu(moderator, mlist):
    content = logged_in(moderator).get("/lists/ant.example.com/held/").content.decode()
    assert "/settings/" not in content
