"""Mass subscription and unsubscription by owners: typed addresses or a CSV
file, with or without welcome and goodbye mails, and a report."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from members.forms import MAX_BULK_CHARACTERS, MAX_BULK_LINES
from members.models import Membership, Role
from members.services import ban, subscribe

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

SUBSCRIBE = "/lists/ant.example.com/mass-subscribe/"
UNSUBSCRIBE = "/lists/ant.example.com/mass-unsubscribe/"
EXPORT = "/lists/ant.example.com/roster/export/"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def members() -> list[str]:
    return sorted(Membership.objects.filter(role=Role.MEMBER).values_list("address__email", flat=True))


def post(client, path, django_capture_on_commit_callbacks, **data):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(path, data)


def test_owner_subscribes_typed_addresses_with_the_welcome(owner_client, smtp_sink, django_capture_on_commit_callbacks):
    addresses = "one@example.net\nTwo@Example.NET Two\r\nThree <three@example.net>\n\n# a comment\n"
    response = post(owner_client, SUBSCRIBE, django_capture_on_commit_callbacks, addresses=addresses, send_notice="on")
    assert response.status_code == 200
    assert "3 addresses added" in response.content.decode()
    assert members() == ["one@example.net", "three@example.net", "two@example.net"]
    assert sorted(smtp_sink.recipients()) == members()


def test_owner_subscribes_without_the_welcome(owner_client, smtp_sink, django_capture_on_commit_callbacks):
    post(owner_client, SUBSCRIBE, django_capture_on_commit_callbacks, addresses="one@example.net")
    assert members() == ["one@example.net"]
    assert not smtp_sink.received


def test_one_invalid_line_changes_nothing_and_is_reported(owner_client):
    response = owner_client.post(SUBSCRIBE, {"addresses": "good@example.net\n<b>bad</b>\n"})
    content = response.content.decode()
    assert members() == []
    assert "Nothing was changed" in content
    assert "<td>2</td>" in content
    assert "&lt;b&gt;bad&lt;/b&gt;" in content


def test_invalid_lines_can_be_skipped(owner_client):
    response = owner_client.post(SUBSCRIBE, {"addresses": "good@example.net\nbad\n", "skip_invalid": "on"})
    assert members() == ["good@example.net"]
    assert "1 invalid line" in response.content.decode()


def test_banned_and_present_addresses_are_reported(owner_client, mlist, member):
    ban(mlist, "^spam.*$")
    response = owner_client.post(SUBSCRIBE, {"addresses": "spammer@example.net\nmember@example.org\nnew@example.net"})
    content = response.content.decode()
    assert "1 address added" in content
    assert "1 banned, not added" in content
    assert "1 unchanged" in content
    assert "spammer@example.net" not in members()


def test_junk_is_reported_without_echoing_control_characters(owner_client):
    junk = "\x1b[31mred@example.net\n\x7f\x85@example.net\n" + "\ufffd" * 10 + "\n" + "y" * 5000
    response = owner_client.post(SUBSCRIBE, {"addresses": junk})
    # The report; the form below it gives the owner their input back to correct.
    report = response.content.decode().split('enctype="multipart/form-data"')[0]
    assert response.status_code == 200
    assert "4 invalid lines" in report
    assert "\x1b" not in report
    assert "\x85" not in report
    assert "y" * 201 not in report, "long lines are cut"
    assert members() == []


@pytest.mark.parametrize(
    "data",
    [
        {"addresses": ""},
        {"addresses": "\n\n  \n"},
        {"addresses": "a@example.net\x00"},
        {"addresses": "a@example.net\n" * (MAX_BULK_LINES + 1)},
        {"addresses": "x" * (MAX_BULK_CHARACTERS + 1)},
    ],
)
def test_empty_or_oversized_input_is_a_form_error(owner_client, data):
    response = owner_client.post(SUBSCRIBE, data)
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert members() == []


def test_a_request_body_past_the_sites_limit_is_400(owner_client):
    response = owner_client.post(SUBSCRIBE, {"addresses": "a@example.net\n" * 250_000})
    assert response.status_code == 400
    assert members() == []


def test_a_large_paste_is_subscribed_and_the_report_is_cut(owner_client):
    addresses = "\n".join(f"ant{n}@example.net" for n in range(5000))
    content = owner_client.post(SUBSCRIBE, {"addresses": addresses}).content.decode()
    assert "5000 addresses added" in content
    assert len(members()) == 5000
    assert content.count("@example.net") < 300


def test_the_members_of_a_csv_export_can_be_subscribed_again(owner_client, mlist):
    subscribe(mlist, "-dash@example.net", display_name="=1+1")
    subscribe(mlist, "plain@example.net", display_name="Plain, Name")
    exported = b"".join(owner_client.get(EXPORT).streaming_content)
    owner_client.post("/lists/ant.example.com/mass-unsubscribe/", {"addresses": "-dash@example.net\nplain@example.net"})
    upload = SimpleUploadedFile("roster.csv", exported, content_type="text/csv")
    response = owner_client.post(SUBSCRIBE, {"csv_file": upload, "skip_invalid": "on"})
    assert "2 addresses added" in response.content.decode()
    names = dict(Membership.objects.filter(role=Role.MEMBER).values_list("address__email", "address__display_name"))
    assert names == {"-dash@example.net": "=1+1", "plain@example.net": "Plain, Name"}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\xff\xfe\xfd", "not UTF-8"),
        (b"a@example.net,\x00\n", "NUL"),
        (b"a@example.net," + b"x" * 200_000, "not CSV"),
    ],
)
def test_an_unreadable_csv_is_a_form_error(owner_client, data, error):
    response = owner_client.post(SUBSCRIBE, {"csv_file": SimpleUploadedFile("x.csv", data)})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert members() == []


def test_owner_unsubscribes_with_the_goodbye(owner_client, mlist, smtp_sink, django_capture_on_commit_callbacks):
    for email in ("one@example.net", "two@example.net", "stays@example.net"):
        subscribe(mlist, email)
    response = post(
        owner_client,
        UNSUBSCRIBE,
        django_capture_on_commit_callbacks,
        addresses="one@example.net\nTWO@example.net\nnobody@example.net",
        send_notice="on",
    )
    content = response.content.decode()
    assert "2 addresses removed" in content
    assert "1 unchanged" in content
    assert members() == ["stays@example.net"]
    assert sorted(smtp_sink.recipients()) == ["one@example.net", "two@example.net"]


def test_mass_unsubscribe_leaves_owners_alone(owner_client):
    owner_client.post(UNSUBSCRIBE, {"addresses": "owner@example.org"})
    assert Membership.objects.filter(address__email="owner@example.org", role=Role.OWNER).exists()


def test_the_unsubscribe_form_takes_no_file(owner_client):
    assert 'type="file"' not in owner_client.get(UNSUBSCRIBE).content.decode()
    assert 'type="file"' in owner_client.get(SUBSCRIBE).content.decode()
