"""Where each number of the dashboard leads: the list of the cases or items behind it.

The worklist's own filters (priority, hospital, ai; open cases by default) serve most numbers,
so a click lands on the page a manager already knows; the rest go to the ops lists.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse


def _url(name: str, args=None, **query) -> str:
    base = reverse(name, args=args)
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{base}?{urlencode(query)}" if query else base


def _bucket_links(bucket: dict, **key) -> None:
    bucket["links"] = {
        "open": _url("worklist", **key),
        "unread": _url("worklist", state="unread", **key),
        "at_risk": _url("ops-cases", sla="at_risk", **key),
        "breached": _url("ops-cases", sla="breached", **key),
        "ai_flagged": _url("worklist", ai="true", **key),
        "oldest": (
            _url("case-detail", args=[bucket["oldest"]["case_id"]]) if bucket["oldest"] else None
        ),
    }


def dashboard_links(data: dict) -> dict:
    """The dashboard's figures with a ``links`` entry beside each number (in place)."""
    _bucket_links(data["queue"])
    for bucket in data["by_priority"]:
        _bucket_links(bucket, priority=bucket["priority"])
    for bucket in data["by_hospital"]:
        _bucket_links(bucket, hospital=bucket["code"])
    for row in data["at_risk"] + data["breached"]:
        row["url"] = _url("case-detail", args=[row["case_id"]])
    for row in data["radiologists"]:
        row["links"] = {
            "claimed": _url("ops-cases", reader=row["id"]),
            "reads_this_shift": (
                _url("ops-reads", reader=row["id"], since=row["shift_started_at"].isoformat())
                if row["shift_started_at"]
                else None
            ),
        }
    data["links"] = {
        "at_risk": _url("ops-cases", sla="at_risk"),
        "breached": _url("ops-cases", sla="breached"),
        "ai_flags_waiting": _url("worklist", ai="true"),
        "failed_deliveries": _url("ops-deliveries"),
        "critical_open": _url("critical-results", state="open"),
    }
    _coverage_links(data["coverage"])
    for item in data["failed_deliveries"]["items"]:
        item["url"] = _url("report-detail", args=[item["report_id"]])
    for item in data["critical_open"]["items"]:
        item["url"] = _url("critical-result-detail", args=[item["critical_result_id"]])
    return data


def _coverage_links(coverage: dict) -> None:
    uncovered = coverage["uncovered"]
    uncovered["links"] = {
        "all": _url("ops-cases", coverage="uncovered"),
        "stat": _url("ops-cases", coverage="uncovered", priority="stat"),
    }
    for row in uncovered["by_hospital"]:
        row["url"] = _url("ops-cases", coverage="uncovered", hospital=row["code"])
    for item in uncovered["items"]:
        item["url"] = _url("case-detail", args=[item["case_id"]])
    for row in coverage["hospitals_without_policy"]:
        # The admin's form for a new promise, with the hospital chosen.
        row["url"] = _url("admin:sla_slapolicy_add", hospital=row["hospital_id"])
        row["open_url"] = _url("worklist", hospital=row["code"])


def ai_model_links(rows: list[dict]) -> list[dict]:
    """Each model version's page and its runs (the admin's list, filtered), in place."""
    for row in rows:
        key = {"model_name": row["model_name"], "model_version": row["model_version"]}
        row["links"] = {
            "page": _url("ai-model", args=[row["model_name"], row["model_version"]]),
            "runs": _url("admin:triage_triagerun_changelist", **key),
        }
    return rows
