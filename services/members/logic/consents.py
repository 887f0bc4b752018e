"""Consents per purpose and channel (PIPL opt-in): what a set of decisions changes.

Pure: the caller reads the member's current consents, :func:`plan_changes` says which decisions
change something, and the repository writes — for each changed consent — the current item
(``CONSENT#<purpose>[#<channel>]``), a history entry (``CONSENTLOG#<ts>#<ulid>``) and a
``MemberConsentChanged`` outbox item, all in one transaction with a check that the member is
active. A decision identical to the stored one (same ``granted`` and ``text_version``) is a no-op
and writes nothing. The first explicit decision on a consent is always recorded, even a refusal:
the history then proves the member saw that text version and declined.

Absent = not granted (PIPL opt-in): :func:`current_view` lists every consent of the catalogue,
the undecided ones as not granted.

**For registration** (identity engineer): call :func:`plan_initial` with the request's
``consents`` (a list of :class:`~services.members.models.consents.ConsentIn`, already validated)
and put the operations of :func:`services.members.dal.consents.consent_write_ops` into the
registration's TransactWriteItems (``condition_on_current=False`` for a new member). Example::

    plan = plan_initial(member_id, body.consents, now=now, new_id=new_ulid)
    ops += consent_write_ops(table, plan, correlation_id=cid, producer="members.api")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, get_args

from services.members.models.consents import Channel, ConsentIn, ConsentSource, Purpose
from shared import clock
from shared.errors import Conflict, NotFound
from shared.events.contracts import MemberConsentChanged

CHANNELS: tuple[Channel, ...] = get_args(Channel)
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)

ConsentKey = tuple[Purpose, Channel | None]

CATALOGUE: tuple[ConsentKey, ...] = tuple(
    key
    for purpose in PURPOSES
    for key in ([(purpose, channel) for channel in CHANNELS] if purpose == "marketing" else [(purpose, None)])
)
"""Every consent a member can give: marketing per channel, the other purposes once."""

MAX_ATTEMPTS = 3


class MemberNotFound(NotFound):
    CODE = "member_not_found"
    MESSAGE = "No active member for this token."


class ConsentConflict(Conflict):
    CODE = "consent_conflict"
    MESSAGE = "The consents changed while this request was applied; try again."


@dataclass(frozen=True)
class ConsentState:
    """A consent as stored (the current item)."""

    purpose: Purpose
    channel: Channel | None
    granted: bool
    text_version: str
    changed_at: datetime
    source: ConsentSource

    @property
    def key(self) -> ConsentKey:
        return (self.purpose, self.channel)


@dataclass(frozen=True)
class ConsentChange:
    """One changed consent: the new state, what it replaces, and its history entry's id."""

    member_id: str
    new: ConsentState
    previous: ConsentState | None
    log_id: str

    def event(self) -> MemberConsentChanged:
        return MemberConsentChanged(
            member_id=self.member_id,
            purpose=self.new.purpose,
            channel=self.new.channel,
            granted=self.new.granted,
            changed_at=self.new.changed_at,
            text_version=self.new.text_version,
        )


@dataclass(frozen=True)
class ConsentPlan:
    """The changed consents of one request, in catalogue order."""

    member_id: str
    changes: tuple[ConsentChange, ...]


def withdraws_car_plates(plan: ConsentPlan) -> bool:
    """True when the plan withdraws the ``car_plates`` consent: the repository then unlinks the
    member's plates (lookup keys, back-references, the sealed ``plates`` field) in the same
    transaction, so no staff search by plate finds the member afterwards."""
    return any(c.new.purpose == "car_plates" and not c.new.granted for c in plan.changes)


def consent_sort_key(key: ConsentKey) -> int:
    return CATALOGUE.index(key)


def plan_changes(
    member_id: str,
    current: Mapping[ConsentKey, ConsentState],
    decisions: Sequence[ConsentIn],
    *,
    now: datetime,
    new_id: Callable[[], str],
    source: ConsentSource,
) -> ConsentPlan:
    """The decisions that change something (see the module doc), in catalogue order."""
    changes: list[ConsentChange] = []
    for decision in sorted(decisions, key=lambda d: consent_sort_key((d.purpose, d.channel))):
        key: ConsentKey = (decision.purpose, decision.channel)
        previous = current.get(key)
        if (
            previous is not None
            and previous.granted == decision.granted
            and previous.text_version == decision.text_version
        ):
            continue
        new = ConsentState(
            purpose=decision.purpose,
            channel=decision.channel,
            granted=decision.granted,
            text_version=decision.text_version,
            changed_at=now,
            source=source,
        )
        changes.append(ConsentChange(member_id=member_id, new=new, previous=previous, log_id=new_id()))
    return ConsentPlan(member_id=member_id, changes=tuple(changes))


def plan_initial(
    member_id: str,
    decisions: Sequence[ConsentIn],
    *,
    now: datetime,
    new_id: Callable[[], str],
) -> ConsentPlan:
    """Registration's consents: every decision is recorded (source ``registration``)."""
    return plan_changes(member_id, {}, decisions, now=now, new_id=new_id, source="registration")


def current_view(current: Mapping[ConsentKey, ConsentState]) -> list[ConsentState | ConsentKey]:
    """Every catalogue consent in order: the stored state, or the bare key when never decided."""
    return [current.get(key, key) for key in CATALOGUE]


def is_granted(current: Mapping[ConsentKey, ConsentState], purpose: Purpose, channel: Channel | None) -> bool:
    state = current.get((purpose, channel))
    return state is not None and state.granted


# --- applying a member's decisions -------------------------------------------------------------


class ConsentRepository(Protocol):
    def member_active(self, member_id: str) -> bool: ...

    def current(self, member_id: str) -> dict[ConsentKey, ConsentState]: ...

    def apply(self, plan: ConsentPlan, *, correlation_id: str, producer: str) -> bool:
        """Write the plan in one transaction; False when the member is not active or a consent
        changed since it was read (nothing written)."""


@dataclass(frozen=True)
class Applied:
    """The consents after a request and how many changed."""

    consents: dict[ConsentKey, ConsentState]
    changed: int


def apply_decisions(
    member_id: str,
    decisions: Iterable[ConsentIn],
    repo: ConsentRepository,
    *,
    now: Callable[[], datetime] = clock.now,
    new_id: Callable[[], str],
    correlation_id: str,
    producer: str,
    source: ConsentSource = "member",
) -> Applied:
    """Record a member's decisions; :class:`MemberNotFound` (404) for an unknown or erased member,
    :class:`ConsentConflict` (409) when concurrent changes keep winning."""
    wanted = list(decisions)
    for _ in range(MAX_ATTEMPTS):
        current = repo.current(member_id)
        plan = plan_changes(member_id, current, wanted, now=now(), new_id=new_id, source=source)
        if not plan.changes:
            if not repo.member_active(member_id):
                raise MemberNotFound()
            return Applied(consents=current, changed=0)
        if repo.apply(plan, correlation_id=correlation_id, producer=producer):
            updated = dict(current)
            updated.update({change.new.key: change.new for change in plan.changes})
            return Applied(consents=updated, changed=len(plan.changes))
        if not repo.member_active(member_id):
            raise MemberNotFound()
    raise ConsentConflict()
