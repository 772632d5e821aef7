"""What a person sees when django-axes has paused sign-ins for their username from their address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict) -> HttpResponse:
    """The sign-in page again, saying why signing in is refused and when to try again (429)."""
    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    minutes = max(1, round(cool_off.total_seconds() / 60))
    retry_at = timezone.localtime(timezone.now() + cool_off)
    message = (
        f"Too many wrong passwords for this username from your address ({settings.AXES_FAILURE_LIMIT} in a row): "
        f"signing in is paused for {minutes} minutes. Try again after {retry_at:%-I:%M %p} {retry_at.tzname()}, "
        "or ask your administrator to lift the pause."
    )
    form = AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")})
    context = {"form": form, "lockout": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)


def throttled_username(request: HttpRequest, credentials: dict | None) -> str:
    """The username wrong passwords are counted against, cut to the length a username can have.

    Django's sign-in form does not enforce the username's length before checking the password,
    so a 20,000-character "username" reaches axes, whose attempts table holds 255.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    username = (credentials or {}).get(field) if credentials else request.POST.get(field, "")
    return str(username or "")[:150]


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check, for sign-ins that come with a request (the sign-in page, the admin's).

    ``authenticate()`` without a request (a management command, the test client's ``login()``)
    has no client address to count against, and axes would refuse it outright: it passes on to
    the next backend instead.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
