from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from lists.services import create_list, delete_list


def read_map(path: Path) -> dict[str, str]:
    lines = [line.split() for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in lines}


def test_postfix_maps_route_every_list_address_to_lmtp(mlist, tmp_path, settings):
    settings.LMTP_HOST, settings.LMTP_PORT = "127.0.0.1", 8024
    out = StringIO()
    call_command("mta_maps", "--postfix", "--no-postmap", "--output-dir", str(tmp_path), stdout=out)
    transport = read_map(tmp_path / "postfix_lmtp")
    expected = {
        "ant@example.com",
        "ant-bounces@example.com",
        "ant-confirm@example.com",
        "ant-join@example.com",
        "ant-leave@example.com",
        "ant-owner@example.com",
        "ant-request@example.com",
        "ant-subscribe@example.com",
        "ant-unsubscribe@example.com",
    }
    assert set(transport) == expected
    assert set(transport.values()) == {"lmtp:[127.0.0.1]:8024"}
    assert set(read_map(tmp_path / "postfix_recipients")) == expected
    assert read_map(tmp_path / "postfix_domains") == {"example.com": "example.com"}
    assert "postfix_lmtp" in out.getvalue()


def test_maps_follow_list_changes_when_enabled(domain, tmp_path, settings, django_capture_on_commit_callbacks):
    settings.MTA_MAPS, settings.MTA_MAPS_DIR = "postfix", str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        bee = create_list("bee@example.com")
    assert "bee@example.com" in read_map(tmp_path / "postfix_lmtp")
    with django_capture_on_commit_callbacks(execute=True):
        delete_list(bee)
    assert "bee@example.com" not in read_map(tmp_path / "postfix_lmtp")


def test_maps_command_needs_an_mta(db):
    with pytest.raises(CommandError, match="--postfix"):
        call_command("mta_maps")
