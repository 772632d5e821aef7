"""API authentication."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from core.fastsql import Joined
from integrations.services import KEY_PREFIX, api_key_authenticate

# Every API request reads its token with the user, membership and organization: plain SQL
# (core/fastsql.py), the rows ``Token.objects.select_related("user__membership__organization")`` reads.
_TOKEN = Joined(Token, "user__membership__organization")


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``: an organization's API key (``td_…``) or a person's DRF token.

    DRF's token authentication, reading the user's membership and organization in the same query.

    Every API request needs the caller's organization (tenancy); loading it with the token spares
    two queries per request (measured in bench/: the Send API's largest single saving).
    """

    def authenticate_credentials(self, key):
        if key.startswith(KEY_PREFIX):
            # An organization's API key (integrations.models.ApiKey): acts as its own user, with its role.
            api_key = api_key_authenticate(key=key)
            if api_key is None:
                raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API key."))
            return (api_key.user, api_key)
        # A person's DRF token (the first kind): still accepted while integrations move to API keys
        # (README "API keys"); a key created in admin or the API replaces it.
        try:
            token = _TOKEN.get(key=key)
        except Token.DoesNotExist as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
