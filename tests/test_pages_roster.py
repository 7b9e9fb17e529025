"""The roster page and its CSV export: everything for owners and moderators,
only the members who show their address for the others the list lets in."""

import csv
import io

import pytest

from lists.services import configure_list
from members.models import Membership, Role
from members.roster import MAX_CSV_BYTES, InvalidCsv, csv_lines, lines_from_csv
from members.services import bulk_subscribe, subscribe, update_membership
from tests.conftest import logged_in, make_user

ROSTER = "/lists/ant.example.com/roster/"
EXPORT = "/lists/ant.example.com/roster/export/"


@pytest.fixture
def crowd(mlist):
    """120 members, ant000@example.net to ant119@example.net, hiding their addresses (the default)."""
    bulk_subscribe(mlist, [f"ant{n:03}@example.net Ant {n}" for n in range(120)])


@pytest.fixture
def shown(mlist):
    """A member who chose to show their address."""
    membership = subscribe(mlist, "shown@example.net", display_name="Shown Ant")
    return update_membership(membership, hide_address=False)


def exported(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_owner_pages_through_the_whole_roster(owner, crowd):
    client = logged_in(owner)
    first = client.get(ROSTER).content.decode()
    assert "121 memberships" in first
    assert "Page 1 of 3" in first
    assert first.count("@example.net</td>") == 50
    last = client.get(ROSTER, {"page": 3}).content.decode()
    assert last.count("@example.net</td>") == 20
    assert "owner@example.org</td>" in last


@pytest.mark.parametrize("page", ["0", "-1", "999", "abc", "1e9", "9" * 400])
def test_a_page_number_out_of_range_shows_a_page(owner, crowd, page):
    assert logged_in(owner).get(ROSTER, {"page": page}).status_code == 200


def test_owner_searches_by_address_or_name(owner, crowd):
    client = logged_in(owner)
    by_address = client.get(ROSTER, {"q": "ant01"}).content.decode()
    assert "10 memberships" in by_address
    by_name = client.get(ROSTER, {"q": "ANT 119"}).content.decode()
    assert "1 membership" in by_name
    assert "ant119@example.net" in by_name


def test_owner_filters_by_role(owner, crowd):
    content = logged_in(owner).get(ROSTER, {"role": "owner"}).content.decode()
    assert "1 membership" in content
    assert "owner@example.org" in content


def test_pages_keep_the_search(owner, crowd):
    content = logged_in(owner).get(ROSTER, {"q": "ant"}).content.decode()
    assert 'href="?q=ant&amp;page=2"' in content


@pytest.mark.parametrize("query", ["%", "_", "\\", "'", '"; DROP TABLE x; --'])
def test_like_wildcards_in_a_search_match_themselves(owner, crowd, query):
    response = logged_in(owner).get(ROSTER, {"q": query})
    assert response.status_code == 200
    assert "0 memberships" in response.content.decode()


@pytest.mark.parametrize("params", [{"q": "a\x00b"}, {"q": "x" * 300}, {"q": "a\x1bb"}, {"role": "emperor"}])
def test_a_bad_search_is_400_and_shows_nobody(owner, crowd, params):
    response = logged_in(owner).get(ROSTER, params)
    assert response.status_code == 400
    assert "ant000@example.net" not in response.content.decode()


def test_names_are_escaped(owner, mlist):
    subscribe(mlist, "xss@example.net", display_name="<script>alert(1)</script>")
    content = logged_in(owner).get(ROSTER).content.decode()
    assert "<script>alert(1)" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_export_is_the_roster_as_csv(owner, crowd):
    response = logged_in(owner).get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ant.example.com-roster.csv"'
    rows = exported(response)
    assert len(rows) == 121
    assert rows[0] == {
        "email": "ant000@example.net",
        "display_name": "Ant 0",
        "role": "member",
        "delivery_mode": "regular",
        "delivery_status": "enabled",
    }


def test_export_keeps_the_search(owner, crowd):
    rows = exported(logged_in(owner).get(EXPORT, {"q": "ant11", "role": "member"}))
    assert [row["email"] for row in rows] == [f"ant11{n}@example.net" for n in range(10)]


def test_export_of_a_bad_search_is_400(owner, crowd):
    assert logged_in(owner).get(EXPORT, {"q": "\x00"}).status_code == 400


def test_export_neutralises_spreadsheet_formulas(owner, mlist):
    subscribe(mlist, "calc@example.net", display_name='=HYPERLINK("http://evil.example","x")')
    subscribe(mlist, "-minus@example.net", display_name="@SUM(A1)")
    rows = {row["email"]: row["display_name"] for row in exported(logged_in(owner).get(EXPORT))}
    assert rows["calc@example.net"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows["'-minus@example.net"] == "'@SUM(A1)"


def test_export_and_import_give_back_the_same_addresses_and_names(mlist):
    for email, name in [("-a@example.net", "=1+1"), ("b@example.net", "'quoted"), ("c@example.net", "Plain, Name")]:
        subscribe(mlist, email, display_name=name)
    text = "".join(csv_lines(Membership.objects.filter(mailing_list=mlist)))
    assert lines_from_csv(text.encode()) == [
        "# header",
        "-a@example.net =1+1",
        "b@example.net 'quoted",
        "c@example.net Plain, Name",
    ]


def test_a_public_roster_shows_only_members_who_show_their_address(client, mlist, owner, crowd, shown):
    configure_list(mlist, member_roster_visibility="public")
    response = client.get(ROSTER)
    content = response.content.decode()
    assert response.status_code == 200
    assert "shown@example.net" in content
    assert "Shown Ant" in content
    assert "ant000@example.net" not in content
    assert "owner@example.org" not in content
    assert EXPORT not in content
    assert "delivery" not in content.lower()


def test_a_search_of_the_public_roster_never_finds_hidden_addresses(client, mlist, owner, crowd, shown):
    configure_list(mlist, member_roster_visibility="public")
    assert "0 memberships" in client.get(ROSTER, {"q": "ant000"}).content.decode()
    by_role = client.get(ROSTER, {"role": "owner"}).content.decode()
    assert "owner@example.org" not in by_role
    assert "1 membership" in by_role


def test_a_public_roster_is_not_exported_for_everyone(client, mlist, member, shown):
    configure_list(mlist, member_roster_visibility="public")
    assert client.get(EXPORT).status_code == 302
    assert logged_in(member).get(EXPORT).status_code == 403


def test_a_members_only_roster_is_for_members(client, mlist, member, stranger, shown):
    configure_list(mlist, member_roster_visibility="members")
    assert "shown@example.net" in logged_in(member).get(ROSTER).content.decode()
    assert logged_in(stranger).get(ROSTER).status_code == 403
    assert client.get(ROSTER).status_code == 302


def test_a_moderators_only_roster_is_closed_to_members(mlist, member, shown):
    assert logged_in(member).get(ROSTER).status_code == 403


def test_owners_see_hidden_addresses_on_a_public_roster(mlist, owner, crowd):
    configure_list(mlist, member_roster_visibility="public")
    assert "ant000@example.net" in logged_in(owner).get(ROSTER).content.decode()


def test_the_list_page_links_a_roster_members_may_see(mlist, member):
    configure_list(mlist, member_roster_visibility="members")
    assert f'href="{ROSTER}"' in logged_in(member).get("/lists/ant.example.com/").content.decode()


def test_a_moderator_exports_the_roster(mlist, crowd):
    moderator = make_user("moderator@example.org")
    subscribe(mlist, moderator.email, role=Role.MODERATOR)
    assert len(exported(logged_in(moderator).get(EXPORT))) == 121


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe\x00a\x00@\x00", "not UTF-8"),
        (b"a@example.net\x00,Name\n", "NUL"),
        (b"a@example.net," + b"x" * 200_000 + b"\n", "not CSV"),
        (b'"a@example.net,unterminated\n' + b"y" * 200_000, "not CSV"),
        (b"x" * (MAX_CSV_BYTES + 1), "larger than"),
        (b"a@example.net\n" * 20_002, "more than"),
    ],
)
def test_an_unreadable_csv_says_why(data, reason):
    with pytest.raises(InvalidCsv, match=reason):
        lines_from_csv(data)


def test_a_csv_without_header_is_address_then_name():
    assert lines_from_csv(b"a@example.net,Ann\r\nb@example.net\r\n,Nameless\r\n\r\n") == [
        "a@example.net Ann",
        "b@example.net",
        "Nameless",
        "",
    ]


def test_a_csv_with_a_bom_and_a_header_without_names():
    assert lines_from_csv("\ufeffemail,role\r\na@example.net,member\r\n".encode()) == ["# header", "a@example.net"]


def test_rows_of_other_roles_are_left_out_of_a_csv():
    data = b"email,display_name,role\nboss@example.net,Boss,owner\na@example.net,Ann,member\nb@example.net\n"
    assert lines_from_csv(data) == ["# header", "# not a member", "a@example.net Ann", "b@example.net"]
