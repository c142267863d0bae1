from __future__ import annotations

from readingcenter.studies.consumers import HintConsumer
from readingcenter.worklist.services import WORKLIST_ALL_GROUP, worklist_hospital_group


class WorklistHintConsumer(HintConsumer):
    """``/ws/worklist/``: "case N changed (claimed, released, priority...)"; refetch over REST."""

    all_group = WORKLIST_ALL_GROUP

    def hospital_group(self, hospital_id: int) -> str:
        return worklist_hospital_group(hospital_id)

    def hospital_users_allowed(self) -> bool:
        return False  # the readers' worklist is not the hospital's business

    async def case_hint(self, event):
        if not await self.allowed(event.get("hospital_id")):
            return
        await self.send_json(
            {
                "type": "case",
                "id": event["case_id"],
                "study": event["study_id"],
                "state": event["state"],
                "priority": event["priority"],
                "event": event["event"],
            }
        )
