from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from readingcenter.accounts.models import User
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
