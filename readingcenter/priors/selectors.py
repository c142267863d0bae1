from __future__ import annotations

from readingcenter.priors.models import PriorLookup


def prior_lookup_for(study) -> PriorLookup | None:
    """How the search for this study's priors went (None: the hospital has no PACS set up)."""
    return PriorLookup.objects.filter(study=study).prefetch_related("fetches").first()
