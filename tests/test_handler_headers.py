"""The handlers that write headers: cook-headers, rfc-2369 and reply-to."""

from django.test import Client

from archive.reading import message_id_hash
from archive.services import archive_stored_post
from lists.models import ArchivePolicy, Personalization, ReplyToPolicy
from lists.services import configure_list
from messages.pipeline import get_handler
from messages.pipeline.mime import parse_message
from tests.inbound_mail import compose, deliver, state_for

SITE = "https://lists.example.com"


def run(handler: str, mlist, msg):
    get_handler(handler).process(mlist, msg, state_for(msg))
    return parse_message(msg.as_bytes())


def test_posts_are_marked_as_list_mail_with_our_x_beenthere(mlist):
    out = run("cook-headers", mlist, compose(X_BeenThere="bee@example.com"))
    assert out["Precedence"] == "list"
    assert out.get_all("X-BeenThere") == ["bee@example.com", "ant@example.com"]


def test_a_senders_precedence_is_kept(mlist):
    assert run("cook-headers", mlist, compose(Precedence="bulk"))["Precedence"] == "bulk"


def test_a_post_without_message_id_gets_one_of_the_lists_domain(mlist):
    msg = compose()
    del msg["Message-ID"]
    assert run("cook-headers", mlist, msg)["Message-ID"].endswith("@example.com>")


def test_list_headers_are_present_and_correct(mlist, settings):
    settings.SITE_URL = SITE
    out = run("rfc-2369", mlist, compose())
    assert out["List-Id"] == "Ant <ant.example.com>"
    assert out["List-Post"] == "<mailto:ant@example.com>"
    assert out["List-Help"] == "<mailto:ant-request@example.com?subject=help>"
    assert out["List-Owner"] == "<mailto:ant-owner@example.com>"
    assert out["List-Subscribe"] == "<mailto:ant-join@example.com>"
    assert out["List-Unsubscribe"] == (f"<mailto:ant-leave@example.com>, <{SITE}/lists/ant.example.com/unsubscribe/>")
    assert out["List-Archive"] == f"<{SITE}/lists/ant.example.com/archive/>"
    assert "List-Unsubscribe-Post" not in out


def test_a_display_name_with_specials_is_quoted_in_list_id(mlist):
    configure_list(mlist, display_name="Ants, Inc.")
    assert run("rfc-2369", mlist, compose())["List-Id"] == '"Ants, Inc." <ant.example.com>'


def test_a_personalized_list_leaves_the_unsubscribe_url_to_delivery(mlist):
    configure_list(mlist, personalize=Personalization.INDIVIDUAL)
    assert run("rfc-2369", mlist, compose())["List-Unsubscribe"] == "<mailto:ant-leave@example.com>"


def test_an_announce_only_list_says_no_to_posts(mlist):
    configure_list(mlist, allow_list_posts=False)
    assert run("rfc-2369", mlist, compose())["List-Post"] == "NO"


def test_an_unarchived_list_has_no_list_archive(mlist):
    configure_list(mlist, archive_policy=ArchivePolicy.NEVER)
    assert "List-Archive" not in run("rfc-2369", mlist, compose())


def test_archived_at_is_the_permalink_the_archive_gives_the_post(mlist, settings):
    settings.SITE_URL = SITE
    msg = compose()
    msg.replace_header("Message-ID", "<queen.1@example.org>")
    out = run("rfc-2369", mlist, msg)
    permalink = f"{SITE}/lists/ant.example.com/archive/message/{message_id_hash('queen.1@example.org')}/"
    assert out["Archived-At"] == f"<{permalink}>"


def test_each_post_gets_its_own_permalink_under_the_site_of_the_moment(mlist, settings):
    settings.SITE_URL = SITE
    first, second = compose(), compose()
    first.replace_header("Message-ID", "<queen.1@example.org>")
    second.replace_header("Message-ID", "<queen.2@example.org>")
    assert message_id_hash("queen.2@example.org") in run("rfc-2369", mlist, second)["Archived-At"]
    assert message_id_hash("queen.1@example.org") in run("rfc-2369", mlist, first)["Archived-At"]

    settings.SITE_URL = "https://new.example.net"
    out = run("rfc-2369", mlist, first)
    assert out["List-Archive"] == "<https://new.example.net/lists/ant.example.com/archive/>"
    assert out["Archived-At"].startswith("<https://new.example.net/lists/ant.example.com/archive/message/")


def test_an_unarchived_list_has_no_archived_at(mlist):
    configure_list(mlist, archive_policy=ArchivePolicy.NEVER)
    assert "Archived-At" not in run("rfc-2369", mlist, compose())


def test_a_private_archive_still_gets_both_archive_headers(mlist):
    configure_list(mlist, archive_policy=ArchivePolicy.PRIVATE)
    out = run("rfc-2369", mlist, compose())
    assert "List-Archive" in out and "Archived-At" in out


def test_a_post_without_message_id_gets_no_archived_at(mlist):
    msg = compose()
    del msg["Message-ID"]
    assert "Archived-At" not in run("rfc-2369", mlist, msg)


def test_another_lists_archived_at_is_replaced(mlist):
    out = run("rfc-2369", mlist, compose(Archived_At="<https://bee.example/m/1>"))
    assert len(out.get_all("Archived-At")) == 1
    assert "bee.example" not in out["Archived-At"]


def test_an_accepted_post_is_found_at_its_archived_at(mlist, member, settings):
    settings.SITE_URL = SITE
    post = deliver(mlist, compose(subject="Found")).post
    archive_stored_post(post.pk)
    archived_at = parse_message(bytes(post.raw))["Archived-At"]
    assert archived_at.startswith(f"<{SITE}/") and archived_at.endswith(">")
    response = Client().get(archived_at[len(SITE) + 1 : -1])
    assert response.status_code == 200
    assert "Found" in response.content.decode()


def test_another_lists_headers_are_replaced(mlist):
    msg = compose(
        List_Id="<bee.example.com>",
        List_Unsubscribe="<https://bee.example/u/1>",
        List_Unsubscribe_Post="List-Unsubscribe=One-Click",
    )
    out = run("rfc-2369", mlist, msg)
    assert out.get_all("List-Id") == ["Ant <ant.example.com>"]
    assert "bee" not in out["List-Unsubscribe"]
    assert "List-Unsubscribe-Post" not in out


def test_lists_may_turn_the_list_headers_off(mlist):
    configure_list(mlist, include_rfc2369_headers=False)
    out = run("rfc-2369", mlist, compose())
    assert not [name for name in out.keys() if name.startswith("List-")]
    assert "Archived-At" not in out


def test_no_munging_keeps_the_senders_reply_to(mlist):
    out = run("reply-to", mlist, compose(Reply_To="Ann <ann@example.org>"))
    assert out["Reply-To"] == "Ann <ann@example.org>"


def test_point_to_list_adds_the_list_after_the_senders_reply_to(mlist):
    configure_list(mlist, reply_goes_to_list=ReplyToPolicy.POINT_TO_LIST)
    out = run("reply-to", mlist, compose(Reply_To="ann@example.org"))
    assert out["Reply-To"] == "ann@example.org, Ant <ant@example.com>"


def test_first_strip_reply_to_drops_the_senders_reply_to(mlist):
    configure_list(mlist, reply_goes_to_list=ReplyToPolicy.POINT_TO_LIST, first_strip_reply_to=True)
    out = run("reply-to", mlist, compose(Reply_To="ann@example.org"))
    assert out["Reply-To"] == "Ant <ant@example.com>"


def test_an_explicit_reply_to_comes_first(mlist):
    configure_list(mlist, reply_goes_to_list=ReplyToPolicy.EXPLICIT_HEADER, reply_to_address="discuss@example.com")
    out = run("reply-to", mlist, compose(Reply_To="ann@example.org"))
    assert out["Reply-To"] == "discuss@example.com, ann@example.org"


def test_reply_to_is_removed_when_there_is_nothing_to_put_in_it(mlist):
    configure_list(mlist, first_strip_reply_to=True)
    assert "Reply-To" not in run("reply-to", mlist, compose(Reply_To="ann@example.org"))


def test_a_fully_personalized_list_puts_itself_in_cc(mlist):
    configure_list(mlist, personalize=Personalization.FULL)
    out = run("reply-to", mlist, compose(Cc="bob@example.org"))
    assert out["Cc"] == "bob@example.org, Ant <ant@example.com>"
