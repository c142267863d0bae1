"""Dead code: functions, methods, classes and properties nothing calls (vulture), for `make lint`.

Vulture reads the code as text, so Django's and DRF's conventions (a view's ``get``, an admin's
``list_display``, a consumer's ``<type>_hint`` handler, a command's ``handle``) look unused to it:
they are named below, by the convention that calls them. Variables and attributes are left out
(model fields, DICOM keywords and settings would drown the rest). Tests and benchmarks are
scanned as callers: a helper only they use is still used. What is really dead gets deleted; a
name that a framework reaches in a way neither rule covers goes in ALLOWED, with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import vulture

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["readingcenter", "triage", "simulator", "tests", "bench", "manage.py"]
KINDS = {"function", "method", "class", "property", "import"}

# Names a framework calls by convention.
CONVENTIONS = [
    # Django: commands, apps, admin, middleware, forms, models, template tags, URL converters.
    "Command",
    "add_arguments",
    "handle",
    "ready",
    "*Config",
    "*Admin",
    "*Inline",
    "*Middleware",
    "Meta",
    "clean*",
    "save_model",
    "delete_model",
    "delete_queryset",
    "has_*_permission",
    "get_*",
    "to_python",
    "to_url",
    "formfield_for_*",
    "lookups",
    # DRF and drf-spectacular: views, serializers, permissions, pagination.
    "*Api",
    "*Serializer",
    "*Pagination",
    "has_permission",
    "has_object_permission",
    "to_representation",
    "to_internal_value",
    "validate*",
    "create",
    "update",
    "perform_*",
    "post",
    "put",
    "patch",
    "delete",
    "get",
    "list",
    "retrieve",
    "initial",
    "finalize_response",
    # Channels: consumers and the handlers group_send reaches by message type.
    "*Consumer",
    "connect",
    "disconnect",
    "receive",
    "receive_json",
    "*_hint",
    "hints_bundle",
    # http.server handlers, fpdf2 page hooks.
    "do_GET",
    "do_POST",
    "do_PUT",
    "log_message",
    "header",
    "footer",
    # torch modules: nn.Module.__call__ calls forward.
    "forward",
    # Django admin views and DRF authentication hooks, reached by the frameworks.
    "add_view",
    "authenticate_header",
    # Management commands with subcommands: handle() dispatches to _<action>.
    "_list",
    "_revoke",
    # pytest.
    "test_*",
    "Test*",
    "pytest_*",
    "django_db_setup",
]
DECORATORS = [
    "@*.task",
    "@*.periodic",
    "@pytest.fixture",
    "@receiver",
    "@admin.register",
    "@register.*",
    "@subscribe",
    "@hooks.subscribe",
    "@*.setter",
    "@extend_schema*",
    "@lru_cache",
    "@admin.display",
    "@admin.action",
    "@checks.register*",
]
# Reached in a way neither list above covers. Each with its reason.
ALLOWED = {
    # Triggers installed by migrations (RunSQL with these functions' output at migration time).
    "forbid_row_changes": "called from migrations, which the scan leaves out",
    "forbid_changes_once": "called from migrations, which the scan leaves out",
    # The public API of the hook table, for tests and the admin.
    "subscribers": "readingcenter.hooks: who listens on a point (tests use it)",
    # Read by a template only (templates/analytics/ai_model.html: each window's reading).
    "judged": "triage.monitoring.VersionMonitoring: the model page's monitoring table",
    # Named in settings (REST_FRAMEWORK's permission classes) by dotted path.
    "TokenScopes": "readingcenter.settings REST_FRAMEWORK DEFAULT_PERMISSION_CLASSES",
    # drf-spectacular finds OpenAPI extensions by subclass registration on import.
    "ApiTokenScheme": "readingcenter.accounts.schema, imported by the app's ready()",
}


def main() -> int:
    scan = vulture.Vulture(ignore_names=CONVENTIONS, ignore_decorators=DECORATORS)
    scan.scavenge([str(ROOT / p) for p in PATHS], exclude=["*/migrations/*"])
    dead = [
        item
        for item in scan.get_unused_code(min_confidence=60)
        if item.typ in KINDS and item.name not in ALLOWED
    ]
    for item in dead:
        where = Path(item.filename).relative_to(ROOT)
        print(f"{where}:{item.first_lineno}: unused {item.typ} {item.name!r}")
    if dead:
        print(f"{len(dead)} unused; delete them, or say in scripts/dead_code.py why they stay")
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())
