from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from readingcenter.accounts.forms import AdminSignInForm
from readingcenter.accounts.models import Privilege, RadiologistProfile, Shift, SignInFailure, User
from readingcenter.accounts.services import (
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

    @admin.display(description="Locked until")
    def locked_until(self, user: User):
        return sign_in_locked_until(user.username) or ""

    @admin.action(description="Unlock sign-in (clear failed attempts)")
    def unlock(self, request, queryset):
        for user in queryset:
            cleared = sign_in_unlock(user.username, actor=request.user)
            if cleared:
                messages.info(
                    request, f"Unlocked {user.username}: {cleared} failed sign-ins cleared"
                )

    @admin.action(description="Reset second factor (lost phone: set up again at next sign-in)")
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            removed = second_factor_reset(user, actor=request.user)
            messages.info(request, f"{user.username}: {removed} authenticator(s) removed")

    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Reading center", {"fields": ("role", "hospital", "time_zone", "second_factor_chosen")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Reading center", {"fields": ("role", "hospital", "time_zone")}),
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
