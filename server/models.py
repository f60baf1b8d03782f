"""Every table, imported in one place so Alembic and the app see the whole schema."""

from server.accounts.models import AccountToken
from server.catalog.models import ActionType, Project, ProjectSpecies, Species
from server.certificates.models import Certificate, CertificateCounter
from server.clock import TestClockOffset
from server.counters import ThrottleCounter
from server.energy.models import ActionRecord, DailySteps
from server.feed.models import FeedItem
from server.idempotency import IdempotencyRecord
from server.ledger.models import Balance, Ball, LedgerEntry, LedgerTransaction
from server.mail.models import Email
from server.members.models import Member, WebSession
from server.notifications.models import Device, Notification, NotificationSettings, PushDelivery, TheftNote
from server.ops.models import JobRun
from server.partners.models import (
    ActionUsage,
    GreenCode,
    Partner,
    PartnerKey,
    PartnerLink,
    PartnerRefusal,
    PartnerReport,
)
from server.planting.models import Ngo, NgoKey, Photo, PhotoHashBand, Planting, PlantingOrder, Rejection
from server.social.models import FriendRequest, Friendship, PlayCounter, Steal
from server.trees.models import Tree
from server.users.models import RefreshToken, User
from server.webhooks.models import WebhookDelivery

__all__ = [
    "AccountToken",
    "ActionRecord",
    "ActionType",
    "ActionUsage",
    "Balance",
    "Ball",
    "Certificate",
    "CertificateCounter",
    "DailySteps",
    "Device",
    "Email",
    "FeedItem",
    "FriendRequest",
    "Friendship",
    "GreenCode",
    "IdempotencyRecord",
    "JobRun",
    "LedgerEntry",
    "LedgerTransaction",
    "Member",
    "Ngo",
    "NgoKey",
    "Notification",
    "NotificationSettings",
    "Partner",
    "PartnerKey",
    "PartnerLink",
    "PartnerRefusal",
    "PartnerReport",
    "Photo",
    "PhotoHashBand",
    "Planting",
    "PlantingOrder",
    "PlayCounter",
    "Project",
    "ProjectSpecies",
    "PushDelivery",
    "RefreshToken",
    "Rejection",
    "Species",
    "Steal",
    "TestClockOffset",
    "TheftNote",
    "ThrottleCounter",
    "Tree",
    "User",
    "WebSession",
    "WebhookDelivery",
]
