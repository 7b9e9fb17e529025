"""First-run set-up shared by `runall` and `bootstrap`: the site record and
the first site admin."""

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sites.models import Site
from django.db import transaction

from members.services import verify_address


@dataclass
class AdminAccount:
    email: str
    created: bool
    # Set only when the password was generated here: print it once.
    generated_password: str | None = None


@transaction.atomic
def ensure_site(site_url: str | None = None) -> Site:
    """Point the Sites framework (used in account mails) at SITE_URL."""
    host = urlsplit(site_url or settings.SITE_URL).netloc or "localhost"
    site, _ = Site.objects.update_or_create(pk=settings.SITE_ID, defaults={"domain": host, "name": host})
    return site


@transaction.atomic
def ensure_site_admin(email: str, password: str | None = None) -> AdminAccount:
    """Create the first site admin unless one exists.

    Without `password`, one is generated and returned for printing once.
    The admin's email becomes a verified address linked to the account.
    """
    from allauth.account.models import EmailAddress

    User = get_user_model()
    email = email.strip().lower()
    existing = User.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is not None:
        return AdminAccount(email=existing.email, created=False)
    generated = None if password else secrets.token_urlsafe(12)
    user = User.objects.create_superuser(username=email, email=email, password=password or generated)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    verify_address(email, user)
    return AdminAccount(email=email, created=True, generated_password=generated)
