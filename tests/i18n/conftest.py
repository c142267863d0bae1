"""The reports' fixtures (a claimed case's draft), for the browser tests of this folder."""

from tests.reports.conftest import case, claimed, draft, templates  # noqa: F401 - fixtures
