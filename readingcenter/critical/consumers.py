from __future__ import annotations

from readingcenter.critical.services import CRITICAL_ALL_GROUP, critical_hospital_group
from readingcenter.studies.consumers import HintConsumer


class CriticalHintConsumer(HintConsumer):
    """``/ws/critical/``: "critical result N changed (raised, notified, escalated,
    acknowledged)"; the page refetches over HTTP, which re-checks access.

    Managers hear about every hospital; a hospital user about his own (this is how the
    portal notification reaches an open page); a radiologist about the hospitals where he
    holds a privilege, re-checked as in the other consumers.
    """

    all_group = CRITICAL_ALL_GROUP

    def hospital_group(self, hospital_id: int) -> str:
        return critical_hospital_group(hospital_id)

    async def critical_hint(self, event):
        if not await self.allowed(event.get("hospital_id")):
            return
        await self.send_json(
            {
                "type": "critical_result",
                "id": event["critical_result_id"],
                "state": event["state"],
                "level": event["level"],
                "event": event["event"],
            }
        )
