"""Helpers of the subscription workflow tests."""

import re

from lists.services import configure_list

CONFIRM_SUBJECT = re.compile(r"^confirm ([a-z2-7]{32})$")


def token_of(mail) -> str:
    """The token of a confirmation mail (a Received of the SMTP sink), checked
    to be the same in Subject, Reply-To and link."""
    msg = mail.message
    found = CONFIRM_SUBJECT.match(str(msg["Subject"]))
    assert found, msg["Subject"]
    token = found.group(1)
    assert f"-confirm+{token}@" in str(msg["Reply-To"])
    assert f"/confirm/{token}/" in msg.get_content()
    return token


def with_policy(mlist, **settings):
    return configure_list(mlist, **settings)
