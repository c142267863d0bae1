"""The second sign-in step: the code from the user's authenticator app (or enrolling one)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter.accounts.selectors import needs_second_factor, second_factor_device
from readingcenter.accounts.services import (
    second_factor_enrolment,
    second_factor_verify,
    sign_in_locked_until,
    user_language_set,
)


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else settings.LOGIN_REDIRECT_URL


@login_required
def second_factor(request):
    user = request.user
    if not needs_second_factor(user):
        return redirect(_next_url(request))
    device = second_factor_device(user)
    enrolling = device is None
    error = ""
    if request.method == "POST":
        if second_factor_verify(request, user, request.POST.get("token", "")):
            return redirect(_next_url(request))
        if sign_in_locked_until(user.get_username()) is not None:
            logout(request)
            return redirect(f"{reverse('login')}?locked=1")
        error = _("That code is not right (or was already used). Enter the current one.")
    context = {"enrolling": enrolling, "error": error, "next": _next_url(request)}
    if enrolling:
        device = second_factor_enrolment(user)
        key = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
        context.update(
            secret=" ".join(key[i : i + 4] for i in range(0, len(key), 4)),
            config_url=device.config_url,
            issuer=settings.SECOND_FACTOR_ISSUER,
        )
    return render(request, "registration/second_factor.html", context)


@require_POST
def language(request):
    """The language menu: saved on the user when signed in (every device follows), and in the
    cookie, which is all an anonymous visitor of the sign-in page has."""
    choice = request.POST.get("language", "")
    if choice not in dict(settings.LANGUAGES):
        return HttpResponseBadRequest(_("Unknown language."))
    if request.user.is_authenticated:
        user_language_set(request.user, language=choice, request=request)
    response = redirect(_next_url(request))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        choice,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=request.is_secure(),
        httponly=True,
    )
    return response
