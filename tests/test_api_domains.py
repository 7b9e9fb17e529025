import pytest

from lists.models import Domain
from tests.api_callers import API, client_for


def test_anyone_signed_in_reads_domains(domain, stranger):
    response = client_for(stranger).get(f"{API}/domains/")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"mail_host": "example.com", "web_host": "lists.example.com", "description": "Example"}
    ]
    assert client_for(stranger).get(f"{API}/domains/example.com/").status_code == 200


def test_anonymous_callers_cannot_read_domains(domain):
    response = client_for().get(f"{API}/domains/")
    assert response.status_code == 401
    assert response.json()["message"]


def test_site_admin_creates_a_domain(site_admin):
    response = client_for(site_admin).post(f"{API}/domains/", {"mail_host": "Lists.Example.NET"})
    assert response.status_code == 201
    assert response.json() == {"mail_host": "lists.example.net", "web_host": "", "description": ""}
    assert Domain.objects.filter(mail_host="lists.example.net").exists()


@pytest.mark.parametrize("who", ["owner", "member", "stranger"])
def test_only_site_admins_create_domains(request, who):
    response = client_for(request.getfixturevalue(who)).post(f"{API}/domains/", {"mail_host": "example.net"})
    assert response.status_code == 403
    assert not Domain.objects.filter(mail_host="example.net").exists()


def test_creating_an_existing_domain_is_409(site_admin, domain):
    assert client_for(site_admin).post(f"{API}/domains/", {"mail_host": "example.com"}).status_code == 409


def test_invalid_domain_name_is_400(site_admin):
    response = client_for(site_admin).post(f"{API}/domains/", {"mail_host": "not a domain"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"mail_host": ["Not a valid domain name: 'not a domain'"]}


def test_site_admin_changes_web_host_and_description(site_admin, domain):
    response = client_for(site_admin).patch(f"{API}/domains/example.com/", {"description": "Changed"})
    assert response.status_code == 200
    domain.refresh_from_db()
    assert (domain.description, domain.web_host) == ("Changed", "lists.example.com")


def test_mail_host_cannot_be_changed(site_admin, domain):
    response = client_for(site_admin).patch(f"{API}/domains/example.com/", {"mail_host": "example.net"})
    assert response.status_code == 400
    assert "mail_host" in response.json()["errors"]


def test_owner_cannot_change_a_domain(owner, domain):
    assert client_for(owner).patch(f"{API}/domains/example.com/", {"description": "x"}).status_code == 403


def test_site_admin_deletes_a_domain_without_lists(site_admin, domain):
    assert client_for(site_admin).delete(f"{API}/domains/example.com/").status_code == 204
    assert not Domain.objects.exists()


def test_a_domain_with_lists_cannot_be_deleted(site_admin, mlist):
    response = client_for(site_admin).delete(f"{API}/domains/example.com/")
    assert response.status_code == 409
    assert "still has lists" in response.json()["message"]


def test_unknown_domain_is_a_json_404(stranger):
    response = client_for(stranger).get(f"{API}/domains/nowhere.example/")
    assert response.status_code == 404
    assert response.json()["message"]
