"""``/ws/ops/``: the dashboard's hint that something it counts changed; it refetches.

The dashboard counts cases, studies, deliveries and critical results, so it listens to the
managers' groups of the worklist, the studies (deliveries and signed reports announce
themselves there) and the critical results. A hint carries no figure: the page refetches its
partial over HTTP (debounced, since a signature alone sends several hints at once).
"""

from __future__ import annotations

from readingcenter.critical.services import CRITICAL_ALL_GROUP
from readingcenter.studies.consumers import HintConsumer
from readingcenter.studies.hints import ALL_STUDIES_GROUP
from readingcenter.worklist.services import WORKLIST_ALL_GROUP

OPS_GROUPS = (WORKLIST_ALL_GROUP, ALL_STUDIES_GROUP, CRITICAL_ALL_GROUP)


class OpsHintConsumer(HintConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        if not user.is_manager:
            await self.close(code=4403)  # the dashboard covers every hospital: managers only
            return
        self.hospitals = None
        self.groups_joined = list(OPS_GROUPS)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def _changed(self, kind: str, id_: int) -> None:
        await self.send_json({"type": "changed", "kind": kind, "id": id_})

    async def case_hint(self, event):
        await self._changed("case", event["case_id"])

    async def study_hint(self, event):
        await self._changed("study", event["study_id"])

    async def critical_hint(self, event):
        await self._changed("critical_result", event["critical_result_id"])
