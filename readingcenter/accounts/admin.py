from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from readingcenter.accounts.models import Privilege, RadiologistProfile, Shift, User
from readingcenter.audit.admin_mixins import AuditedAdminMixin


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    list_display = ("username", "get_full_name", "role", "hospital", "is_active")
    list_filter = ("role", "hospital", "is_active")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Reading center", {"fields": ("role", "hospital", "time_zone")}),
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
