"""`/me/notification-settings` and `/me/devices` (SPEC 11.2)."""

from __future__ import annotations

from datetime import datetime

from litestar import Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import UserController
from server.errors import problems
from server.notifications import service
from server.notifications.schemas import (
    DeviceCreate,
    DevicePublic,
    NotificationSettingsBody,
    NotificationSettingsPublic,
)
from server.pagination import Page
from server.users.models import User
from server.validation import ResourceId


class NotificationController(UserController):
    path = "/me"
    tags = ["notifications"]

    @get("/notification-settings")
    async def get_settings(
        self, db_session: NamedDependency[AsyncSession], current_user: NamedDependency[User]
    ) -> NotificationSettingsPublic:
        """Which notifications the user gets, on which channels, and their quiet hours in local time (SPEC 11.2)."""
        return await service.get_settings(db_session, current_user.id)

    @put("/notification-settings", responses=problems("empty-quiet-hours", "unknown-event-type"))
    async def put_settings(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        data: JSONBody[NotificationSettingsBody],
    ) -> NotificationSettingsPublic:
        """Replace the notification settings (SPEC 11.2); event types left out of `events` stay on. Sending the same
        body again changes nothing."""
        return await service.put_settings(db_session, current_user.id, data, now)

    @post(
        "/devices",
        status_code=201,
        responses={200: ResponseSpec(DevicePublic, description="A token registered already: the same device")},
    )
    async def register_device(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        data: JSONBody[DeviceCreate],
    ) -> Response[DevicePublic]:
        """Register a push token (SPEC 11.2): 201 for a new device, 200 (the same device) for a known token; at most
        10 devices, the least recently seen one is dropped."""
        device, created = await service.register_device(db_session, current_user.id, data, now)
        return Response(device, status_code=201 if created else 200)

    @get("/devices")
    async def devices(
        self, db_session: NamedDependency[AsyncSession], current_user: NamedDependency[User]
    ) -> Page[DevicePublic]:
        """The user's devices (at most 10, so one page), the most recently seen first (SPEC 11.2)."""
        return Page(items=await service.list_devices(db_session, current_user.id), next_cursor=None)

    @delete("/devices/{device_id:str}", status_code=204, responses=problems("device-not-found"))
    async def remove_device(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        device_id: FromPath[ResourceId],
    ) -> None:
        """Remove one of the user's devices: it gets no more pushes (SPEC 11.2)."""
        await service.remove_device(db_session, current_user.id, device_id)
