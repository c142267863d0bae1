"""The audit search's fields, shared by the page, the CSV export and the API."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from readingcenter.audit.models import Outcome
from readingcenter.hospitals.models import Hospital


class AuditSearchForm(forms.Form):
    user = forms.CharField(required=False, max_length=150, label=_("User"))
    patient_id = forms.CharField(required=False, max_length=64, label=_("Patient ID"))
    study = forms.IntegerField(required=False, min_value=1, label=_("Study id"))
    target_type = forms.CharField(required=False, max_length=64, label=_("Target type"))
    target_id = forms.CharField(required=False, max_length=64, label=_("Target id"))
    action = forms.CharField(
        required=False,
        max_length=64,
        label=_("Action"),
        help_text=_("exact, or a prefix ending in *: report.*"),
    )
    outcome = forms.ChoiceField(required=False, choices=[("", _("Any outcome")), *Outcome.choices])
    hospital = forms.ModelChoiceField(
        required=False, queryset=Hospital.objects.order_by("name"), empty_label=_("Any hospital")
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def filters(self) -> dict:
        """The fields that parsed and are set (an invalid one is left out, not refused)."""
        self.is_valid()
        cleaned = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        if "hospital" in cleaned:
            cleaned["hospital"] = cleaned["hospital"].pk
        return cleaned
