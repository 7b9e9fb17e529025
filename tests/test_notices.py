"""The lifecycle's mails: defaults, the list's and the site's own wording, headers."""

from django.utils import translation

from lists.models import ListTemplate, TemplateName
from members import notices
from members.services import subscribe
from members.workflows import mass_subscribe, mass_unsubscribe, request_subscription
from tests.workflow_support import with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]


def body(mail) -> str:
    return mail.message.get_content().replace("\r\n", "\n")


def test_the_default_welcome_names_the_list_and_its_address(mlist, smtp_sink):
    notices.send_welcome(mlist, "new@example.net", "New")
    [mail] = smtp_sink.to("new@example.net")
    text = mail.message.get_content()
    assert mail.message["Subject"] == 'Welcome to the "Ant" mailing list'
    assert "ant@example.com" in text
    assert "http://" in text and "/lists/ant.example.com/" in text
    assert "&quot;" not in text and "&amp;" not in text


def test_a_lists_own_welcome_replaces_the_default(mlist, smtp_sink):
    ListTemplate.objects.create(
        mailing_list=mlist, name=TemplateName.WELCOME, text="Hi $user_name, welcome to $display_name. $unknown"
    )
    notices.send_welcome(mlist, "new@example.net", "New")
    [mail] = smtp_sink.to("new@example.net")
    assert body(mail) == "Hi New, welcome to Ant. $unknown\n"


def test_the_sites_wording_applies_to_lists_without_their_own(mlist, smtp_sink):
    ListTemplate.objects.create(mailing_list=None, name=TemplateName.GOODBYE, text="Site goodbye from $listname")
    notices.send_goodbye(mlist, "old@example.net")
    [mail] = smtp_sink.to("old@example.net")
    assert body(mail) == "Site goodbye from ant@example.com\n"


def test_owner_wording_cannot_reach_into_objects(mlist, smtp_sink):
    ListTemplate.objects.create(
        mailing_list=mlist, name=TemplateName.WELCOME, text="{{ list.moderator_password }} ${listname.__class__}"
    )
    notices.send_welcome(mlist, "new@example.net")
    [mail] = smtp_sink.to("new@example.net")
    assert body(mail) == "{{ list.moderator_password }} ${listname.__class__}\n"


def test_a_confirmation_mail_carries_its_token_three_ways(mlist, smtp_sink):
    notices.send_confirmation(mlist, "new@example.net", "a" * 32, TemplateName.CONFIRM_SUBSCRIBE)
    [mail] = smtp_sink.to("new@example.net")
    msg = mail.message
    assert msg["Subject"] == "confirm " + "a" * 32
    assert msg["Reply-To"] == f"ant-confirm+{'a' * 32}@example.com"
    assert f"/lists/ant.example.com/confirm/{'a' * 32}/" in msg.get_content()
    assert msg["Auto-Submitted"] == "auto-replied"
    assert "3 days" in msg.get_content()


def test_the_welcome_renders_in_another_active_language(mlist, smtp_sink):
    with translation.override("de"):
        notices.send_welcome(mlist, "new@example.net")
    assert smtp_sink.to("new@example.net")


def test_the_confirmation_subject_is_the_same_in_every_language(mlist, smtp_sink, committed):
    with translation.override("fr"):
        committed(request_subscription, mlist, "new@example.net")
    assert str(smtp_sink.received[0].message["Subject"]).startswith("confirm ")


def test_mass_subscribe_welcomes_each_new_member(mlist, smtp_sink, committed):
    subscribe(mlist, "old@example.net")
    result = committed(mass_subscribe, mlist, ["a@example.net", "B <b@example.net>", "old@example.net"])
    assert result.added == ["a@example.net", "b@example.net"]
    assert sorted(smtp_sink.recipients()) == ["a@example.net", "b@example.net"]


def test_mass_subscribe_can_be_quiet(mlist, smtp_sink, committed):
    committed(mass_subscribe, mlist, ["a@example.net"], send_welcome=False)
    assert not smtp_sink.received


def test_mass_unsubscribe_says_goodbye_unless_told_not_to(mlist, smtp_sink, committed):
    subscribe(mlist, "a@example.net")
    subscribe(mlist, "b@example.net")
    committed(mass_unsubscribe, mlist, ["a@example.net"])
    committed(mass_unsubscribe, mlist, ["b@example.net"], send_goodbye=False)
    assert smtp_sink.recipients() == ["a@example.net"]


def test_mass_subscribe_honours_the_lists_setting(mlist, smtp_sink, committed):
    with_policy(mlist, send_welcome_message=False)
    committed(mass_subscribe, mlist, ["a@example.net"])
    assert not smtp_sink.received
