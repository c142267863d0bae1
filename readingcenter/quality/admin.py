from django.contrib import admin

from readingcenter.quality.models import AIDisagreement, PeerReview, PeerReviewPolicy


@admin.register(AIDisagreement)
class AIDisagreementAdmin(admin.ModelAdmin):
    list_display = ("signed_at", "model_name", "model_version", "finding", "kind",
                    "probability", "threshold", "hospital")  # fmt: skip
    list_filter = ("model_name", "model_version", "kind", "hospital")
    readonly_fields = [f.name for f in AIDisagreement._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(PeerReviewPolicy)
class PeerReviewPolicyAdmin(admin.ModelAdmin):
    """What share of each hospital's reports (per modality) a second radiologist scores."""

    list_display = ("hospital", "modality", "share")
    list_filter = ("hospital",)


@admin.register(PeerReview)
class PeerReviewAdmin(admin.ModelAdmin):
    list_display = ("created_at", "hospital", "modality", "first_reader", "reviewer", "score",
                    "reason")  # fmt: skip
    list_filter = ("score", "hospital", "reason")
    readonly_fields = [f.name for f in PeerReview._meta.fields]

    def has_add_permission(self, request):
        return False
