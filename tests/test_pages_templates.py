"""Owners reword their list's welcome and goodbye mails."""

import pytest

from lists.models import TEMPLATE_MAX_LENGTH, ListTemplate, TemplateName
from lists.services import set_template

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

INDEX = "/lists/ant.example.com/templates/"
WELCOME = f"{INDEX}welcome/"
GOODBYE = f"{INDEX}goodbye/"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def own_text(mlist, name=TemplateName.WELCOME) -> str | None:
    row = ListTemplate.objects.filter(mailing_list=mlist, name=name).first()
    return row.text if row else None


def test_the_index_says_where_each_wording_comes_from(owner_client, mlist):
    set_template(None, TemplateName.GOODBYE, "The site says goodbye.")
    content = owner_client.get(INDEX).content.decode()
    assert f'href="{WELCOME}"' in content
    assert "Now: the built-in wording." in content
    assert "Now: the site&#x27;s wording." in content


def test_the_default_is_offered_with_placeholders(owner_client):
    content = owner_client.get(WELCOME).content.decode()
    assert "Welcome to the $display_name mailing list!" in content
    assert "You are subscribed as $user_email." in content
    assert "<code>$user_name</code>" in content


def test_saving_the_default_unedited_keeps_following_the_default(owner_client, mlist):
    text = owner_client.get(WELCOME).context["form"].initial["text"]
    assert owner_client.post(WELCOME, {"text": text.replace("\n", "\r\n")}).status_code == 302
    assert own_text(mlist) is None


def test_the_new_wording_is_what_new_members_get(owner_client, mlist, smtp_sink, django_capture_on_commit_callbacks):
    response = owner_client.post(WELCOME, {"text": "Hello $user_email,\r\nwelcome to $display_name. $unknown stays."})
    assert response.status_code == 302
    assert own_text(mlist) == "Hello $user_email,\nwelcome to $display_name. $unknown stays."
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            "/lists/ant.example.com/mass-subscribe/", {"addresses": "new@example.net", "send_notice": "on"}
        )
    [welcome] = smtp_sink.to("new@example.net")
    assert (
        welcome.message.get_content().replace("\r\n", "\n")
        == "Hello new@example.net,\nwelcome to Ant. $unknown stays.\n"
    )


def test_empty_text_goes_back_to_the_default(owner_client, mlist):
    set_template(mlist, TemplateName.GOODBYE, "Bye.")
    owner_client.post(GOODBYE, {"text": "  \r\n"})
    assert own_text(mlist, TemplateName.GOODBYE) is None
    assert "Now: the built-in wording." in owner_client.get(INDEX).content.decode()


def test_the_text_is_shown_escaped(owner_client, mlist):
    set_template(mlist, TemplateName.WELCOME, "</textarea><script>alert(1)</script>")
    content = owner_client.get(WELCOME).content.decode()
    assert "<script>alert(1)" not in content
    assert "&lt;/textarea&gt;&lt;script&gt;" in content


@pytest.mark.parametrize("text", ["x" * (TEMPLATE_MAX_LENGTH + 1), "bad\x00byte"])
def test_bad_text_is_a_form_error(owner_client, mlist, text):
    response = owner_client.post(WELCOME, {"text": text})
    assert response.status_code == 400
    assert own_text(mlist) is None


@pytest.mark.parametrize("slug", ["confirm", "invitation", "list:user:notice:welcome", "nope"])
def test_only_welcome_and_goodbye_are_editable(owner_client, slug):
    assert owner_client.get(f"{INDEX}{slug}/").status_code == 404


def test_another_lists_wording_is_untouched(owner_client, mlist):
    set_template(None, TemplateName.WELCOME, "Site welcome.")
    owner_client.post(WELCOME, {"text": "Ant welcome."})
    assert ListTemplate.objects.get(mailing_list__isnull=True, name=TemplateName.WELCOME).text == "Site welcome."
