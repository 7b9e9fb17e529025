"""API keys: long-lived credentials for scripts, one owner and one scope each."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS


class KeyScope(models.TextChoices):
    READ = "read", _("read only")
    READ_WRITE = "read-write", _("read and write")


class ApiKey(models.Model):
    """A key acts as its user, limited by its scope.

    Only a SHA-256 digest of the key is stored; `prefix` is the key's first
    characters, shown so people can tell keys apart, and is how a presented
    key finds its row. Keys are made by api.keys.
    """

    name = models.CharField(_("name"), max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    scope = models.CharField(_("scope"), max_length=16, choices=KeyScope.choices, default=KeyScope.READ)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=KeyScope.values), name="api_key_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def allows_method(self, method: str) -> bool:
        return method in SAFE_METHODS or self.scope == KeyScope.READ_WRITE
