"""The tickets functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class TicketsSettings(ServiceSettings):
    table_name: str
    # A member's message reopens a resolved ticket within this many days of its resolution.
    reopen_days: int = 7
    # Contract A (LoyaltyOffersFunction, list_rewards) for the automatic rewards answer; unset: no
    # rewards answers (a person answers).
    loyalty_offers_function: str | None = None
    # The members' export bucket (MemberExportRequested); unset: export requests are logged and skipped.
    member_exports_bucket: str | None = None


class TicketsSlaSettings(TicketsSettings):
    sla_check_function_arn: str
    sla_scheduler_role_arn: str
    sla_dead_letter_arn: str
    sla_schedule_group: str = "default"
