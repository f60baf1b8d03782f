"""The notifications domain's part of GET /me/export: the settings, the devices (without their
push tokens, which reach the phone) and the notifications on record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.notifications.models import Device, Notification
from server.notifications.schemas import DevicePublic
from server.notifications.service import get_settings
from server.pagination import ExportPage, export_rows

NOTIFICATION_FIELDS = ("id", "type", "count", "amount_g", "status", "due_at", "released_at", "created_at")


async def export_notification_settings(session: AsyncSession, user_id: str) -> dict[str, Any]:
    return (await get_settings(session, user_id)).model_dump(mode="json")


async def export_devices(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(Device).where(col(Device.user_id) == user_id)
    return await export_rows(session, query, col(Device.id), DevicePublic.model_fields, cursor, limit)


async def export_notifications(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(Notification).where(col(Notification.user_id) == user_id)
    return await export_rows(session, query, col(Notification.id), NOTIFICATION_FIELDS, cursor, limit)
