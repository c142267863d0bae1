from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from readingcenter.sla.services import SLA_MANAGERS_GROUP, sla_user_group
from readingcenter.studies.consumers import HintBundles


class SlaHintConsumer(HintBundles, AsyncJsonWebsocketConsumer):
    """``/ws/sla/``: "you were told about case N" (each person's own group) and, for
    managers, every escalation step. A hint only; the page refetches over HTTP."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.groups_joined = [sla_user_group(user.pk)]
        if user.is_manager:
            self.groups_joined.append(SLA_MANAGERS_GROUP)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def sla_hint(self, event):
        await self.send_json(
            {
                "type": "sla_escalation",
                "case": event["case_id"],
                "escalation": event["escalation_id"],
                "action": event["action"],
                "outcome": event["outcome"],
            }
        )
