from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from readingcenter.studies.hints import ALL_STUDIES_GROUP, hospital_group

log = logging.getLogger(__name__)


@database_sync_to_async
def _privileged(user) -> set[int]:
    from readingcenter.accounts.selectors import privileged_hospital_ids

    return privileged_hospital_ids(user)


class HintBundles:
    """Unpacks a bundle of hints (``hints.bundled``) into its hints, each to its handler."""

    async def hints_bundle(self, event):
        for message in event["messages"]:
            await self.dispatch(message)


class HintConsumer(HintBundles, AsyncJsonWebsocketConsumer):
    """Pushes "N changed" hints; the page refetches over HTTP, which re-checks access.

    Managers join the group of everything; a hospital user his hospital's group; a
    radiologist the groups of the hospitals where he holds a privilege, and every hint is
    checked again against his privileges (re-read every 30 s) so that one that expires or is
    revoked while the socket is open stops the hints too.
    """

    all_group = ""
    privileges_ttl = 30.0
    # Group memberships live in Redis (and expire there after a day): a Redis that restarts
    # forgets them while a socket may stay open. Joining again this often bounds the silence.
    rejoin_seconds = 30.0

    def hospital_group(self, hospital_id: int) -> str:
        raise NotImplementedError

    def hospital_users_allowed(self) -> bool:
        return True

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.groups_joined: list[str] = []
        self.hospitals: set[int] | None = None
        if user.is_manager:
            self.groups_joined = [self.all_group]
        elif user.is_hospital_user and user.hospital_id and self.hospital_users_allowed():
            self.groups_joined = [self.hospital_group(user.hospital_id)]
        elif user.is_radiologist:
            self.hospitals = await _privileged(user)
            self.checked_at = time.monotonic()
            self.groups_joined = [self.hospital_group(h) for h in sorted(self.hospitals)]
        else:
            await self.close(code=4403)
            return
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.rejoining = asyncio.create_task(self._rejoin())

    async def _rejoin(self) -> None:
        while True:
            await asyncio.sleep(self.rejoin_seconds)
            try:
                for group in self.groups_joined:
                    await self.channel_layer.group_add(group, self.channel_name)
            except Exception as exc:  # noqa: BLE001 - Redis away: try again next time
                log.info("live hints: could not join the groups again (%s); retrying", exc)

    async def disconnect(self, code):
        rejoining = getattr(self, "rejoining", None)
        if rejoining is not None:
            rejoining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rejoining
        for group in getattr(self, "groups_joined", []):
            with contextlib.suppress(Exception):  # Redis may be the reason we are closing
                await self.channel_layer.group_discard(group, self.channel_name)

    async def allowed(self, hospital_id: int | None) -> bool:
        if self.hospitals is None:
            return True  # managers and hospital users: the group already decided
        if time.monotonic() - self.checked_at > self.privileges_ttl:
            self.hospitals = await _privileged(self.scope["user"])
            self.checked_at = time.monotonic()
        return hospital_id in self.hospitals


class StudyHintConsumer(HintConsumer):
    all_group = ALL_STUDIES_GROUP

    def hospital_group(self, hospital_id: int) -> str:
        return hospital_group(hospital_id)

    async def study_hint(self, event):
        await self.send_json({"type": "study", "id": event["study_id"], "status": event["status"]})
