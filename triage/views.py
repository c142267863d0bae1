"""The model page's pause and resume buttons (managers): validate, call one service, go back.

The page itself is analytics' (it shows the agreement with signed reports beside this app's
monitoring); these only change a version's state and return to it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from readingcenter.errors import DomainError
from triage import services

CHANGES = {
    "pause": (services.model_version_pause, gettext_lazy("Paused: it runs nothing until resumed.")),
    "resume": (
        services.model_version_resume,
        gettext_lazy("Resumed: the studies that waited for it are queued for re-triage."),
    ),
}


@login_required
@require_POST
def model_version_state_change(request, model_name: str, model_version: str, action: str):
    if not request.user.is_manager:
        raise PermissionDenied(_("Only managers pause or resume a model version."))
    if action not in CHANGES:
        raise Http404(_("No such action."))
    change, success = CHANGES[action]
    try:
        change(
            model_name=model_name,
            model_version=model_version,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            request=request,
        )
        messages.success(request, success)
    except DomainError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
    return redirect("ai-model", model_name=model_name, model_version=model_version)
