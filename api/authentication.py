"""How API callers prove who they are: API keys and OAuth 2 tokens.

Session cookies (the browsable API, the docs page) use DRF's own class.
Each scheme is also described to the OpenAPI schema here.
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext as _
from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.contrib.rest_framework import authentication as oauth2
from oauth2_provider.models import AbstractAccessToken
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from api import keys
from api.models import ApiKey

KEYWORD = "Api-Key"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`; a wrong, revoked or orphaned key is a 401."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("Send the key as: Authorization: Api-Key <key>"))
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(_("Invalid API key.")) from None
        key = keys.find_key(plaintext)
        if key is None:
            raise AuthenticationFailed(_("Invalid API key."))
        if key.is_revoked:
            raise AuthenticationFailed(_("This API key has been revoked."))
        if not key.user.is_active:
            raise AuthenticationFailed(_("The owner of this API key is inactive."))
        keys.record_use(key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 to callers without credentials.
        return KEYWORD


class OAuth2Authentication(oauth2.OAuth2Authentication):
    """Bearer tokens from /o/token/.

    A client-credentials token has no user of its own (RFC 6749 section
    4.4: the client acts on its own behalf), so it acts as the user who owns
    the application; a token with neither is refused.
    """

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, AbstractAccessToken] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        user = user or token.application.user
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("This token's application has no active owner."))
        return user, token


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`. Keys are made in the admin or with `manage.py create_api_key`; "
            "a read key may only use GET, HEAD and OPTIONS.",
        }


class OAuth2Scheme(DjangoOAuthToolkitScheme):
    target_class = OAuth2Authentication

    def get_security_requirement(self, auto_schema) -> dict:
        # Mirrors api.permissions.ScopeAllowsMethod.
        return {self.name: ["read" if auto_schema.method in SAFE_METHODS else "write"]}
