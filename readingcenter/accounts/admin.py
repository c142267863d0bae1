from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from readingcenter.accounts.forms import AdminSignInForm
from readingcenter.accounts.models import (
    ApiToken,
    Privilege,
    RadiologistProfile,
    Scope,
    Shift,
    SignInFailure,
    User,
)
from readingcenter.accounts.services import (
    TokenError,
    api_token_create,
    api_token_revoke,
    second_factor_reset,
    sign_in_locked_until,
    sign_in_unlock,
)
from readingcenter.audit.admin_mixins import AuditedAdminMixin

# The admin's own sign-in page refuses a locked username like ours does.
admin.site.login_form = AdminSignInForm


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    list_display = ("username", "get_full_name", "role", "hospital", "is_active", "locked_until")
    list_filter = ("role", "hospital", "is_active")
    actions = ["unlock", "reset_second_factor"]

    @admin.display(description=gettext_lazy("Locked until"))
    def locked_until(self, user: User):
        return sign_in_locked_until(user.username) or ""

    @admin.action(description=gettext_lazy("Unlock sign-in (clear failed attempts)"))
    def unlock(self, request, queryset):
        for user in queryset:
            cleared = sign_in_unlock(user.username, actor=request.user)
            if cleared:
                messages.info(
                    request,
                    _("Unlocked %(username)s: %(cleared)s failed sign-ins cleared")
                    % {"username": user.username, "cleared": cleared},
                )

    @admin.action(
        description=gettext_lazy("Reset second factor (lost phone: set up again at next sign-in)")
    )
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            removed = second_factor_reset(user, actor=request.user)
            messages.info(
                request,
                _("%(username)s: %(removed)s authenticator(s) removed")
                % {"username": user.username, "removed": removed},
            )

    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (
            gettext_lazy("Reading center"),
            {"fields": ("role", "hospital", "time_zone", "language", "second_factor_chosen")},
        ),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (gettext_lazy("Reading center"), {"fields": ("role", "hospital", "time_zone", "language")}),
    )


class PrivilegeInline(admin.TabularInline):
    model = Privilege
    fk_name = "radiologist"
    extra = 0


class ProfileInline(admin.StackedInline):
    model = RadiologistProfile
    extra = 0


class ShiftInline(admin.TabularInline):
    model = Shift
    extra = 0


UserAdmin.inlines = [ProfileInline, PrivilegeInline, ShiftInline]


@admin.register(Privilege)
class PrivilegeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("radiologist", "hospital", "licence_number", "valid_from", "valid_until",
                    "revoked_at")  # fmt: skip
    list_filter = ("hospital",)
    search_fields = ("radiologist__username", "licence_number")


@admin.register(Shift)
class ShiftAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("radiologist", "starts_at", "ends_at")
    list_filter = ("radiologist",)


@admin.register(SignInFailure)
class SignInFailureAdmin(admin.ModelAdmin):
    """Who tried to sign in as whom, from where: read-only, cleared by unlocking."""

    list_display = ("username", "at", "address")
    search_fields = ("username", "address")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ApiTokenCreateForm(forms.Form):
    user = forms.ModelChoiceField(User.objects.filter(is_active=True).order_by("username"))
    name = forms.CharField(
        max_length=100, help_text=gettext_lazy("What will use it, e.g. 'RIS order feed'.")
    )
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    days = forms.IntegerField(min_value=1, initial=365, help_text=gettext_lazy("Until it expires."))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens for hospital systems and tools: made here (the key shown once), revoked here."""

    list_display = ("prefix", "user", "name", "scopes", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at", "user__role", "user__hospital")
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = [f.name for f in ApiToken._meta.fields if f.name != "key_hash"]
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a token is made and revoked, never edited

    @admin.action(description=gettext_lazy("Revoke (the next call with it gets 401)"))
    def revoke(self, request, queryset):
        for token in queryset:
            if api_token_revoke(token, actor=request.user):
                messages.info(
                    request,
                    _("Revoked %(prefix)s… (%(name)s)")
                    % {"prefix": token.prefix, "name": token.name},
                )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiTokenCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                token, key = api_token_create(
                    data["user"], name=data["name"], scopes=data["scopes"], days=data["days"],
                    actor=request.user,
                )  # fmt: skip
            except TokenError as exc:
                form.add_error(None, str(exc))
            else:
                messages.warning(
                    request,
                    _(
                        "Token %(prefix)s… made for %(user)s. Copy its key now; it is not "
                        "shown again: %(key)s"
                    )
                    % {"prefix": token.prefix, "user": token.user, "key": key},
                )
                return redirect("admin:accounts_apitoken_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("New API token"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/apitoken/add.html", context)
