from __future__ import annotations

import time
import zoneinfo
from urllib.parse import quote

from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from readingcenter.accounts.selectors import needs_second_factor


class UserTimezoneMiddleware:
    """Show times in the signed-in user's own zone; everything is stored in UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = getattr(user, "time_zone", None) if user and user.is_authenticated else None
        if zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


class UserLanguageMiddleware:
    """A signed-in user's chosen language wins over the browser's (LocaleMiddleware's guess).

    Runs after authentication, so an API token's user counts too. The Content-Language header
    follows: LocaleMiddleware sets it from the language active when the response leaves.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        chosen = getattr(user, "language", "") if user and user.is_authenticated else ""
        if chosen:
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        return self.get_response(request)


class IdleSessionMiddleware:
    """Sign out on inactivity: each use (at most once a minute) starts the idle time again.

    Django sets a session's expiry when it is saved; saving on every request would write the
    session row for every image frame the viewer fetches. Touching it once a minute is the
    same timeout to within a minute.
    """

    REFRESH_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            now = int(time.time())
            if now - session.get("seen_at", 0) >= self.REFRESH_SECONDS:
                session["seen_at"] = now  # modified: saved with a new expiry
        return self.get_response(request)


class SecondFactorMiddleware:
    """A password alone opens nothing for those who need the authenticator code too.

    Pages send them to the code step and back; API calls made with the session get 403
    ``second_factor_required``. Calls with an API token (hospital systems) do not pass
    through a session login and are governed by their token instead.
    """

    OPEN = ("/login/", "/logout/", "/language/", "/static/", "/healthz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if needs_second_factor(request.user) and not request.path.startswith(self.OPEN):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {
                        "code": "second_factor_required",
                        "detail": _(
                            "Enter the code from your authenticator app at /login/verify/ first."
                        ),
                    },
                    status=403,
                )
            target = quote(request.get_full_path())
            return redirect(f"{reverse('second_factor')}?next={target}")
        return self.get_response(request)
