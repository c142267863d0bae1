"""The sign-in forms: Django's, refusing a locked username before any password is checked."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from readingcenter.accounts.services import sign_in_locked_until


class _RefusesLockedUsernames:
    def clean(self):
        username = (self.cleaned_data.get("username") or "").strip()
        until = sign_in_locked_until(username) if username else None
        if until is not None:
            # No authenticate(): while locked, even the right password is not tried.
            local = timezone.localtime(until)
            raise forms.ValidationError(
                _(
                    "Too many failed sign-ins for this username. Try again after "
                    "%(time)s, or ask a reading-center manager to unlock it."
                )
                % {"time": f"{local:%H:%M %Z}"},
                code="locked",
            )
        return super().clean()


class SignInForm(_RefusesLockedUsernames, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy(
            "Your username and password didn't match. Try again, or ask your reading-center "
            "manager to reset your password."
        ),
    }


class AdminSignInForm(_RefusesLockedUsernames, AdminAuthenticationForm):
    pass
