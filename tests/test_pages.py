"""The public pages: the list index, a list's page, the layout and its assets."""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.templatetags.static import static
from django.urls import reverse

from lists.services import configure_list, create_domain, create_list

TEMPLATE_DIRS = [
    django_settings.BASE_DIR / "mailman_site" / "templates",
    django_settings.BASE_DIR / "lists" / "templates",
    django_settings.BASE_DIR / "members" / "templates",
]
STATIC_DIR = django_settings.BASE_DIR / "mailman_site" / "static"
# A stylesheet or script fetched from another host: <link href="https://...">,
# <script src="//...">, @import url(http...).
EXTERNAL_ASSET = re.compile(
    r"<(?:link|script)\b[^>]*\b(?:href|src)\s*=\s*[\"']?(?:https?:)?//|@import\s+(?:url\()?[\"']?(?:https?:)?//|url\(\s*[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


@pytest.fixture
def hidden_list(domain):
    return create_list("secret@example.com", description="Not for everyone", advertised=False)


@pytest.fixture
def other_domain_list(db):
    create_domain("aardvark.example", description="The first domain")
    return create_list("zebra@aardvark.example", description="Stripes")


def test_index_shows_advertised_lists_with_address_and_description(client, mlist):
    content = client.get("/").content.decode()
    assert "Ant" in content
    assert "ant@example.com" in content
    assert "Ants and their friends" in content
    assert reverse("list-info", args=["ant@example.com"]) in content


def test_index_never_shows_lists_that_are_not_advertised(client, mlist, hidden_list):
    content = client.get("/").content.decode()
    assert "ant@example.com" in content
    assert "secret@example.com" not in content
    assert "Not for everyone" not in content


def test_index_groups_lists_by_domain(client, mlist, other_domain_list):
    content = client.get("/").content.decode()
    headings = re.findall(r"<h2>(.*?)</h2>", content)
    assert headings == ["aardvark.example", "example.com"]
    assert content.index("zebra@aardvark.example") < content.index("example.com</h2>")


def test_index_without_lists_says_so(client, db):
    assert "no public mailing lists" in client.get("/").content.decode()


def test_list_page_shows_the_list(client, mlist):
    configure_list(mlist, info="Welcome to the ant list.", archive_policy="private")
    response = client.get("/lists/ant@example.com/")
    content = response.content.decode()
    assert response.status_code == 200
    for text in [
        "Ant",
        "Ants and their friends",
        "Welcome to the ant list.",
        "ant@example.com",
        "ant-join@example.com",
    ]:
        assert text in content
    assert "open to members only" in content


def test_list_page_escapes_html_and_keeps_line_breaks_in_info(client, mlist):
    configure_list(mlist, info="<script>alert('x')</script>\nsecond line", description="<b>bold</b>")
    content = client.get("/lists/ant@example.com/").content.decode()
    assert "<script>alert" not in content
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>second line" in content
    assert "<b>bold</b>" not in content


@pytest.mark.parametrize("identifier", ["ant.example.com", "ANT@Example.COM", "Ant.Example.com"])
def test_list_page_accepts_list_id_and_any_case(client, mlist, identifier):
    assert client.get(f"/lists/{identifier}/").status_code == 200


def test_list_id_of_a_list_whose_name_has_dots(client, domain):
    create_list("ant.colony@example.com", description="Colonies")
    assert "Colonies" in client.get("/lists/ant.colony.example.com/").content.decode()


def test_list_page_of_a_list_that_is_not_advertised_is_reachable_by_address(client, hidden_list):
    assert client.get("/lists/secret@example.com/").status_code == 200


@pytest.mark.parametrize(
    "identifier",
    ["nope@example.com", "nope.example.com", "ant@nowhere.example", "example", "@", "." * 2000, "a." * 1500 + "com"],
)
def test_unknown_list_is_a_404_page(client, mlist, identifier):
    response = client.get(f"/lists/{identifier}/")
    assert response.status_code == 404
    assert "404.html" in [template.name for template in response.templates]
    assert static("mailman_site/site.css") in response.content.decode()


def test_stylesheet_is_served(client):
    response = client.get(static("mailman_site/site.css"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"".join(response.streaming_content).strip()


PUBLIC_PAGES = ["/", "/lists/ant@example.com/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
ACCOUNT_PAGES = ["/", "/lists/ant@example.com/", "/accounts/email/", "/accounts/password/change/"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_pages_render_for_anonymous_visitors(client, mlist, path):
    content = client.get(path).content.decode()
    assert static("mailman_site/site.css") in content
    assert reverse("account_login") in content
    assert reverse("account_signup") in content
    assert reverse("admin:index") not in content


@pytest.mark.parametrize("path", ACCOUNT_PAGES)
def test_pages_render_for_logged_in_users(client, member, path):
    client.force_login(member)
    response = client.get(path)
    content = response.content.decode()
    assert response.status_code == 200
    assert static("mailman_site/site.css") in content
    assert "member@example.org" in content
    assert reverse("account_logout") in content
    assert reverse("admin:index") not in content


def test_staff_see_the_admin_link(client, site_admin):
    client.force_login(site_admin)
    assert f'href="{reverse("admin:index")}"' in client.get("/").content.decode()


def test_nav_links_to_the_api_docs(client, db):
    assert f'href="{reverse("api-docs")}"' in client.get("/").content.decode()


def test_account_pages_use_the_site_layout(client, db):
    content = client.get(reverse("account_login")).content.decode()
    assert 'class="site-nav"' in content
    assert content.count("<html") == 1


def template_and_static_files() -> list[Path]:
    files = [path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html")]
    return files + list(STATIC_DIR.rglob("*.css")) + list(STATIC_DIR.rglob("*.js"))


def test_no_template_loads_css_or_js_from_another_host():
    files = template_and_static_files()
    assert files
    offenders = [str(path) for path in files if EXTERNAL_ASSET.search(path.read_text())]
    assert offenders == []


@pytest.mark.parametrize(
    "snippet",
    [
        '<link rel="stylesheet" href="https://cdn.example/x.css">',
        "<script src='//cdn.example/x.js'></script>",
        '@import url("http://cdn.example/x.css");',
    ],
)
def test_external_asset_check_catches_cdn_links(snippet):
    assert EXTERNAL_ASSET.search(snippet)
