"""The application factory: routers, pages, dependencies, error handling, lifespan and scheduler."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, MediaType, Response, Router
from litestar.config.response_cache import ResponseCacheConfig
from litestar.di import Provide
from litestar.openapi.spec import Components
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.routes import HTTPRoute
from litestar.types import Scope

from server.accounts.controllers import LogoutAllController, MyAccountController, RecoveryController
from server.auth import SECURITY_SCHEMES, operator_guard, rate_limit_caller
from server.catalog.controllers import (
    AdminActionController,
    AdminProjectController,
    AdminSpeciesController,
    CatalogController,
)
from server.certificates.controllers import CertificateController
from server.certificates.signing import load_signing_key
from server.clock import Clock
from server.configuration import settings_or_exit
from server.content_language import announce_language, language_cache_key, provide_language
from server.counters import counters
from server.db import CloseRequestSessions, Database, provide_db_session
from server.dependencies import APP_DEPENDENCIES, SERVICES, AppServices, app_services, rate_limiter
from server.energy.controllers import EnergyController
from server.errors import EXCEPTION_HANDLERS, declare_problem_responses
from server.export.controllers import ExportController
from server.feed.controllers import FeedController
from server.forms import ParseMultipartForms, apply_body_limits
from server.idempotency import IdempotencyMiddleware
from server.ledger.controllers import LedgerAuditController, MyLedgerController
from server.logs import AccessLog, logging_config
from server.mail.controllers import AdminEmailController
from server.members.controllers import AdminNgoMemberController, AdminPartnerMemberController
from server.members.sessions import session_store
from server.memory import MIB, MemoryBudget, return_large_blocks_to_the_system
from server.notifications.controllers import NotificationController
from server.openapi import CanopyOpenAPIConfig, ModelExamplesSchemaPlugin, RequestModelSchemaPlugin
from server.ops.controllers import HealthController, JobsController, TestClockController
from server.partners.controllers import AdminPartnerController, GreenCodeController, PartnerReportController
from server.planting.controllers import AdminNgoController, AdminOrderController, NgoController, PhotoController
from server.proxies import ClientAddresses
from server.rate_limits import RateLimiter, RateLimitMiddleware
from server.redaction import redact_access_logs
from server.scheduler import start_scheduler
from server.settings import Settings
from server.social.controllers import FriendsController, PlayController
from server.stats.controllers import StatsController
from server.throttle import Throttle
from server.trees.controllers import TreeController
from server.users.controllers import AdminUserController, AuthController, MeController
from server.users.security import Passwords
from server.validation import StrictJSONRequest
from server.web.accounts import ResetPasswordPageController, VerifyEmailPageController
from server.web.admin import CONSOLE_PAGES
from server.web.controllers import HomeController, LanguageController, StaticController
from server.web.errors import with_error_pages
from server.web.members import (
    AdminNgoMembersPages,
    AdminPartnerMembersPages,
    InviteController,
    NgoMembersPages,
    OperatorsPages,
    PartnerMembersPages,
)
from server.web.ngo import NgoPortalController
from server.web.pages import template_config
from server.web.partner import PartnerPortalController
from server.web.public import CertificatePageController, ProfilePageController
from server.web.session import SignInRequired
from server.web.signin import AccountController, SignInController, SignOutController, sign_in_redirect
from server.web.static import offline_swagger_ui
from server.webhooks.controllers import AdminWebhookController

VERSION = "0.1.0"


class MetricsController(PrometheusController):
    """Prometheus scrapes with the operator token: request counts by route are not public (SPEC 14)."""

    path = "/metrics"
    include_in_schema = False
    guards = [operator_guard]


def _allow_every_method(app: Litestar) -> None:
    """Make OPTIONS list every method of its path.

    Litestar's generated OPTIONS handler reads the methods of the route object it was made for,
    and that object is replaced when the path's other handlers are merged in, so `Allow` listed
    only some of them. Each OPTIONS handler is rebound to the route that serves it.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        allow = ", ".join(sorted(route.methods))
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"} and not handler.include_in_schema:

                def options_handler(scope: Scope, allow: str = allow) -> Response:
                    return Response(content=None, status_code=204, headers={"Allow": allow}, media_type=MediaType.TEXT)

                # Sync, as the handler Litestar generates for OPTIONS is (it runs it without a thread).
                handler._fn = options_handler  # type: ignore[assignment]


def create_app(settings: Settings | None = None) -> Litestar:
    """The app; without `settings` (a server's factory call) they come from the environment, and a
    configuration production refuses ends the process with every problem listed."""
    settings = settings or settings_or_exit()
    redact_access_logs()
    api_handlers = [
        AuthController,
        RecoveryController,
        LogoutAllController,
        MeController,
        AdminUserController,
        MyAccountController,
        ExportController,
        CatalogController,
        EnergyController,
        MyLedgerController,
        TreeController,
        FriendsController,
        PlayController,
        FeedController,
        NotificationController,
        CertificateController,
        StatsController,
        AdminWebhookController,
        AdminEmailController,
        LedgerAuditController,
        AdminProjectController,
        AdminSpeciesController,
        AdminNgoController,
        AdminOrderController,
        NgoController,
        PhotoController,
        JobsController,
        AdminActionController,
        AdminPartnerController,
        AdminNgoMemberController,
        AdminPartnerMemberController,
        GreenCodeController,
        PartnerReportController,
    ]
    if settings.test_clock:
        api_handlers.append(TestClockController)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
            pgbouncer=settings.db_pgbouncer,
        )
        clock = Clock(test_clock=settings.test_clock, engine=database.reader)
        passwords = Passwords(settings)
        signing_key = load_signing_key(settings)
        limit_counters = counters(settings, database)
        member_sessions = session_store(settings, database)
        return_large_blocks_to_the_system()
        photo_memory = MemoryBudget.for_worker(settings.worker_memory_budget_mb * MIB)
        app.state[SERVICES] = AppServices(
            settings=settings,
            database=database,
            clock=clock,
            passwords=passwords,
            throttle=Throttle(limit_counters.shared, settings),
            rate_limits=RateLimiter(limit_counters.requests, settings),
            client_addresses=ClientAddresses(settings.trusted_proxies),
            signing_key=signing_key,
            photo_memory=photo_memory,
            member_sessions=member_sessions,
        )
        scheduler = start_scheduler(database, clock, settings) if settings.scheduler_enabled else None
        # What is alive now (the app, its routes, the ORM's metadata) lives as long as the app: the
        # collector need not walk it again (it cut tail latency under load: docs/benchmarks.md).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # an app that stops (tests start hundreds) leaves its cycles collectable
            if scheduler is not None:
                await scheduler.stop()
            await limit_counters.close()
            await member_sessions.close()
            await database.dispose()

    metrics = PrometheusConfig(app_name="canopy", prefix="canopy", group_path=True, exclude=["/metrics"])
    app = Litestar(
        route_handlers=[
            HealthController,
            MetricsController,
            Router(path="/v1", route_handlers=api_handlers),
            HomeController,
            VerifyEmailPageController,
            ResetPasswordPageController,
            CertificatePageController,
            ProfilePageController,
            LanguageController,
            StaticController,
            SignInController,
            SignOutController,
            AccountController,
            InviteController,
            NgoMembersPages,
            PartnerMembersPages,
            AdminNgoMembersPages,
            AdminPartnerMembersPages,
            OperatorsPages,
            *CONSOLE_PAGES,
            NgoPortalController,
            PartnerPortalController,
        ],
        template_config=template_config(),
        dependencies={
            **APP_DEPENDENCIES,
            "db_session": Provide(provide_db_session),
            "answer_language": Provide(provide_language, sync_to_thread=False),
        },
        before_send=[announce_language],
        response_cache_config=ResponseCacheConfig(key_builder=language_cache_key),
        exception_handlers={**with_error_pages(EXCEPTION_HANDLERS), SignInRequired: sign_in_redirect},
        request_class=StrictJSONRequest,
        logging_config=logging_config(settings),
        plugins=[RequestModelSchemaPlugin(), ModelExamplesSchemaPlugin()],
        middleware=[
            metrics.middleware,
            RateLimitMiddleware(rate_limit_caller, rate_limiter),
            ParseMultipartForms(),
            IdempotencyMiddleware(settings.secret_key, settings.idempotency_ttl_s, app_services),
            CloseRequestSessions,
        ],
        lifespan=[lifespan],
        request_max_body_size=settings.request_max_body_bytes,
        openapi_config=CanopyOpenAPIConfig(
            title="Canopy",
            version=VERSION,
            description=(
                "Green energy for verified low-carbon actions, grown into real trees. An integer is sent "
                "as a JSON integer: 128, never 128.0 (a float is refused where an integer belongs)."
            ),
            path="/schema",
            use_handler_docstrings=True,
            render_plugins=[offline_swagger_ui()],
            components=Components(security_schemes=SECURITY_SCHEMES),
        ),
    )
    apply_body_limits(app, settings)
    declare_problem_responses(app)
    _allow_every_method(app)
    # Outside Litestar's exception handling, so that every answer is logged with its request id.
    app.asgi_handler = AccessLog(app.asgi_handler)
    return app
