"""GET .../lists/{list_id}/posts/{sequence}/delivery: progress for owners, moderators and admins."""

import pytest
from rest_framework.test import APIRequestFactory, force_authenticate

from members.models import Role
from members.services import bulk_subscribe, subscribe
from messages.delivery import enqueue_post
from messages.delivery_api import DeliveryProgressView
from messages.models import DeliveryBatch, Post

pytest.register_assert_rewrite("tests.delivery_support")
from tests.conftest import make_user  # noqa: E402
from tests.delivery_support import corpus_message, member_lines  # noqa: E402


@pytest.fixture
def post(mlist) -> Post:
    bulk_subscribe(mlist, member_lines(4, "p"))
    post = Post.objects.create(mailing_list=mlist, sequence=7, raw=corpus_message("msg_01.txt"))
    enqueue_post(post)
    DeliveryBatch.objects.update(sent_count=2, failed_count=1)
    return post


def get_progress(user, list_id: str = "ant.example.com", sequence: str = "7"):
    request = APIRequestFactory().get(f"/api/v3/lists/{list_id}/posts/{sequence}/delivery")
    if user is not None:
        force_authenticate(request, user=user)
    return DeliveryProgressView.as_view()(request, list_id=list_id, sequence=sequence)


def test_owner_sees_the_counts(post, owner):
    response = get_progress(owner)
    assert response.status_code == 200
    assert response.data == {"total": 4, "sent": 2, "failed": 1, "pending": 1}


def test_moderator_and_site_admin_see_the_counts(post, mlist, site_admin):
    moderator = make_user("mod@example.org")
    subscribe(mlist, moderator.email, role=Role.MODERATOR)
    assert get_progress(moderator).status_code == 200
    assert get_progress(site_admin, list_id="ant@example.com").status_code == 200


def test_a_member_may_not_see_the_counts(post, member):
    assert get_progress(member).status_code == 403


def test_anonymous_caller_must_log_in(post):
    assert get_progress(None).status_code in (401, 403)


def test_unknown_post_or_list_is_404(post, owner):
    assert get_progress(owner, sequence="8").status_code == 404
    assert get_progress(owner, sequence="99999999999999999999").status_code == 404
    assert get_progress(owner, list_id="nope.example.com").status_code == 404


def test_the_endpoint_is_routed_under_the_list(post, owner):
    from tests.api_callers import API, client_for

    response = client_for(owner).get(f"{API}/lists/ant@example.com/posts/7/delivery")
    assert response.status_code == 200
    assert response.json() == {"total": 4, "sent": 2, "failed": 1, "pending": 1}
    assert client_for().get(f"{API}/lists/ant.example.com/posts/7/delivery").status_code == 401
