from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from readingcenter.studies.hints import ALL_STUDIES_GROUP, hospital_group


class StudyHintConsumer(AsyncJsonWebsocketConsumer):
    """Pushes "study N changed" hints; the page refetches over HTTP, which re-checks access."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        if user.sees_all_hospitals:
            self.group = ALL_STUDIES_GROUP
        elif user.is_hospital_user and user.hospital_id:
            self.group = hospital_group(user.hospital_id)
        else:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def study_hint(self, event):
        await self.send_json({"type": "study", "id": event["study_id"], "status": event["status"]})
