"""Dispatch state in CampaignsTable (the only boto3 user for it) and the due-index wake-ups.

| item                    | pk                                   | sk                         |
|-------------------------|--------------------------------------|----------------------------|
| send record             | ``SEND#<send_id>``                   | ``SEND``                   |
| cap counter (day/week)  | ``CAP#<member_id>#<channel>``        | ``DAY#<date>``/``WEEK#<iso week>`` |
| due index (deferrals)   | ``DUE#<UTC minute>#<shard 0..7>``    | ``<send_id>``              |
| campaign rate counter   | ``RATE#<campaign_id>#<shard>``       | ``<UTC minute>``           |
| campaign counters       | ``CAMPAIGN#<campaign_id>``           | ``STATS#<variant or ->#<n>`` |
| last marketing contact  | ``MEMBER#<member_id>``               | ``LAST_CONTACT``           |
| inbox message           | ``MEMBER#<member_id>``               | ``INBOX#<message ulid>``   |

A cap counter's ``holders`` map a send id to ``{p: priority, s: held|sent, at: hold time, u: end
of its window less the clock margin}``; the second pass leaves it as it is (it only checks, in its
lease, that it still holds the slot) unless the holder has no ``u`` (written before it existed),
which is marked ``sent`` as before. The campaign counters' layout (sharded) belongs to
``dal/campaign_stats.py``. Inbox and last
contact live in the member's partition, so erasure (which deletes ``MEMBER#<id>``
items) removes them too. Send records drop the request body (names, texts) once terminal.

**Batch mode** (:meth:`DynamoDispatchStore.begin` … :meth:`~DynamoDispatchStore.end`, driven by
``logic.dispatch.process_batch``): ``begin`` reads the send records, the members' consent
summaries (``MEMBER#<id>`` / ``CONSENTS``, rebuilt from the consent items by dal/privacy.py; for a
member without one, the items themselves, whose keys are known: ``CONSENT#marketing#<channel>``
for every contact channel, ``CONSENT#personalisation``), the cancelled markers and then the cap
counters of the channel each message would use, in ``BatchGetItem`` calls of 100 keys; the reads
are served from that. Writes are buffered per
message — a record created and moved in one pass becomes one ``Put``, a slot held and sent in one
pass one counter update, the campaign counters of many messages one ``ADD`` — and ``commit``
writes them in ``TransactWriteItems`` of up to 100 items, a message's writes never split across
two. A cancelled transaction names the items that failed (``CancellationReasons``): those
messages are reported as :class:`Conflict` and the rest are written again without them.

The per-campaign rate counter is sharded: ``ceil(rate / 30,000)`` items per minute (the rate per
minute; a shard sees at most ~500 messages/s even if every message wrote alone, half a
partition's 1,000 writes/s), each allowing its share. A batch takes the tokens of a campaign's
messages in one ``ADD`` on one shard (``ReturnValues=UPDATED_NEW``), picked by a hash of the first
send id: the new total says how many of the ``k`` asked were within the share, with no condition
to fail; what that shard could not grant is asked of the next shard (so a minute's last tokens are
used wherever they are).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from services.campaigns.dal.campaign_stats import stats_update_op
from services.campaigns.logic.dispatch import (
    TERMINAL,
    Conflict,
    Delivery,
    NeedRateToken,
    OutgoingMessage,
    SendRecord,
    Slots,
)
from services.campaigns.logic.guardrails import (
    CLOCK_MARGIN,
    Consents,
    Holder,
    ceil_minute,
    choose_channel,
    day_key,
    week_key,
)
from services.campaigns.models.dispatch import CHANNELS, Channel, SendRequest
from shared import clock, ids
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    cancellation_reasons,
    from_item,
    is_conditional_check_failed,
    query_all,
    to_item,
    transact_write,
)
from shared.events.base import EventData
from shared.events.contracts import MessageDelivered, MessageSent, MessageSuppressed
from shared.outbox import outbox_item

DUE_SHARDS = 8
SEND_RECORD_TTL = timedelta(days=400)  # > a year: "once per member per year" for birthdays
CAP_TTL = timedelta(days=9)
RATE_TTL = timedelta(hours=1)
DUE_TTL = timedelta(days=60)
PRODUCER = "campaigns.dispatch"
RATE_PER_SHARD = 30_000  # per minute: ~500 messages/s per counter item at most
MAX_TRANSACT_ITEMS = 100
BATCH_GET_KEYS = 100
SHARED_ITEM_ATTEMPTS = 4  # a transaction cancelled only by another writer of the campaign counters


def _av(value: Any) -> dict[str, Any]:  # noqa: PLR0911 - one return per type
    """One DynamoDB attribute value. The item shapes written here are strings, integers, booleans
    and maps of them; boto3's TypeSerializer handles the rest (and ``to_item``'s float refusal is
    kept). About 4x faster than ``to_item`` on these items, which dispatch writes ~14 of per message."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {str(k): _av(v) for k, v in value.items()}}
    if value is None:
        return {"NULL": True}
    if isinstance(value, list):
        return {"L": [_av(v) for v in value]}
    if isinstance(value, float):
        raise TypeError("float in a dispatch item: use int")
    typed: dict[str, Any] = to_item({"v": value})["v"]
    return typed


def _fast_item(data: dict[str, Any]) -> dict[str, Any]:
    """:func:`shared.dynamo.to_item` for dispatch's items (``None`` values dropped). Strings and
    integers (most attributes) are typed inline: a call per attribute is most of the cost."""
    item: dict[str, Any] = {}
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            item[key] = {"S": value}
        elif kind is int:
            item[key] = {"N": str(value)}
        elif value is not None:
            item[key] = _av(value)
    return item


def _plain_value(typed: dict[str, Any]) -> Any:  # noqa: PLR0911 - one return per type
    (kind, raw), *rest = typed.items()
    if not rest:
        if kind == "S":
            return raw
        if kind == "N":
            text = str(raw)
            return int(text) if text.lstrip("-").isdigit() else from_item({"v": typed})["v"]
        if kind == "BOOL":
            return bool(raw)
        if kind == "M":
            return {k: _plain_value(v) for k, v in raw.items()}
        if kind == "L":
            return [_plain_value(v) for v in raw]
        if kind == "NULL":
            return None
    return from_item({"v": typed})["v"]  # sets, binary: boto3's TypeDeserializer


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """:func:`shared.dynamo.from_item` for what dispatch reads back (strings, integers, booleans,
    maps and lists; anything else through ``from_item``) — ~4x cheaper on these items, and
    dispatch reads ~8 keys per message. Strings are taken inline."""
    plain: dict[str, Any] = {}
    for key, typed in item.items():
        text = typed.get("S") if len(typed) == 1 else None
        plain[key] = text if text is not None else _plain_value(typed)
    return plain


def _put(table_name: str, item: dict[str, Any], *, condition: str | None = None) -> dict[str, Any]:
    """:func:`shared.dynamo.put_op` with :func:`_fast_item`."""
    put: dict[str, Any] = {"TableName": table_name, "Item": _fast_item(item)}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def rate_shards(limit: int) -> int:
    return max(1, -(-limit // RATE_PER_SHARD))


def rate_shard(send_id: str, shards: int) -> int:
    return 0 if shards == 1 else int.from_bytes(hashlib.sha256(send_id.encode()).digest()[:4]) % shards


def shard_limit(limit: int, shards: int, shard: int) -> int:
    """The shard's share of the minute's limit (the shares add up to ``limit``)."""
    return limit // shards + (1 if shard < limit % shards else 0)


def rate_key(campaign_id: str, shard: int, minute: datetime) -> dict[str, str]:
    return {"pk": f"RATE#{campaign_id}#{shard}", "sk": clock.to_utc_iso(minute)}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# Every contact channel's marketing consent and personalisation are read, not only the request's
# channels: whether campaigns has heard of the member's consents at all (``Consents.known``) must
# not depend on which channel a message asks for (a member who granted only SMS is "known" to an
# e-mail campaign and suppressed at once, not waited for).
_CONSENT_CHANNELS = ("sms", "email", "wechat")


def consent_keys(request: SendRequest) -> list[tuple[str, str]]:
    """The consent projection items :func:`choose_channel` looks at for this request."""
    pk = f"MEMBER#{request.member_id}"
    channels = dict.fromkeys([*_CONSENT_CHANNELS, *request.channels])
    keys = [(pk, f"CONSENT#marketing#{channel}") for channel in channels]
    keys.append((pk, "CONSENT#personalisation"))
    return keys


# dal/privacy.py's ``CONSENT_SUMMARY_SK`` (a test holds them equal): importing the privacy module
# here would load the erasure code into every dispatch container.
CONSENT_SUMMARY_SK = "CONSENTS"


def summary_key(request: SendRequest) -> tuple[str, str]:
    return f"MEMBER#{request.member_id}", CONSENT_SUMMARY_SK


def consents_from_summary(request: SendRequest, summary: dict[str, Any]) -> Consents:
    """What :func:`consents_from` says of the items :func:`consent_keys` names, read from the
    member's consent summary (``consents``: ``<purpose>[#<channel>]`` → granted) instead."""
    decisions = summary.get("consents") or {}
    items = []
    for _, sk in consent_keys(request):
        name = sk.removeprefix("CONSENT#")
        if name in decisions:
            purpose, _, channel = name.partition("#")
            items.append({"purpose": purpose, "channel": channel or None, "granted": decisions[name]})
    return consents_from(items)


def consents_from(items: list[dict[str, Any]]) -> Consents:
    channels: set[str] = set()
    personalisation_withdrawn = False
    for item in items:
        if item.get("purpose") == "marketing" and item.get("channel") and item.get("granted") is True:
            channels.add(str(item["channel"]))
        if item.get("purpose") == "personalisation" and item.get("granted") is False:
            personalisation_withdrawn = True
    return Consents(frozenset(channels), personalisation_withdrawn, known=bool(items))


# What the batch reads use of the items they fetch — the send record's state
# (:func:`record_from_item`), a consent's purpose, channel and grant (:func:`consents_from`), a cap
# counter's holders and version, a cancelled marker's key — and nothing else: a send record's
# request body and bookkeeping, a consent's history and index keys are not parsed per message.
_BATCH_ATTRIBUTES = (
    *("pk", "sk", "send_id", "status", "version", "due_at", "channel", "attempts", "reason"),
    *("day", "week", "coupon_id", "tried", "purpose", "granted", "holders", "consents"),
)
_BATCH_NAMES = {f"#a{i}": name for i, name in enumerate(_BATCH_ATTRIBUTES)}
_BATCH_PROJECTION = ", ".join(_BATCH_NAMES)


# Send-record attributes that are not DynamoDB reserved words (``status``, ``day``, ``request``
# and ``ttl`` are): written in update expressions as they are. Anything else is aliased.
_PLAIN_NAMES = frozenset(
    {
        *("version", "due_at", "channel", "attempts", "reason", "week", "tried", "coupon_id"),
        *("sent_at", "provider_message_id", "delivered_at", "finished_at", "gsi1pk", "gsi1sk"),
    }
)


def _name(attribute: str) -> str:
    return attribute if attribute in _PLAIN_NAMES else f"#{attribute}"


@dataclass
class _RecordChange:
    """The buffered change of one send record: created in this batch (``new_item``) or updated from
    ``base_version``; every later move of the same pass is folded in."""

    send_id: str
    new_item: dict[str, Any] | None
    base_version: int
    sets: dict[str, Any] = field(default_factory=dict)
    removes: set[str] = field(default_factory=set)
    attempts: int = 0
    moves: int = 0


@dataclass
class _CapChange:
    """A buffered change of one cap counter: a hold (conditional on the ``version`` read, -1 =
    absent) or only slots marked sent (conditional on the holder still being there)."""

    version: int | None
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    mark_sent: list[str] = field(default_factory=list)
    ttl: int = 0


@dataclass
class _Pending:
    """Everything one message buffered in this pass (written in one transaction)."""

    record: _RecordChange | None = None
    caps: dict[tuple[str, str], _CapChange] = field(default_factory=dict)
    ops: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


@dataclass
class _Batch:
    now: datetime
    records: dict[str, SendRecord | None] = field(default_factory=dict)
    consents: dict[str, Consents] = field(default_factory=dict)
    caps: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    grants: dict[str, bool] = field(default_factory=dict)


def send_key(send_id: str) -> dict[str, str]:
    return {"pk": f"SEND#{send_id}", "sk": "SEND"}


def cap_key(member_id: str, channel: str, period: str) -> dict[str, str]:
    return {"pk": f"CAP#{member_id}#{channel}", "sk": period}


def bucket_of(at: datetime) -> str:
    return clock.to_utc_iso(ceil_minute(at))


def due_shard(send_id: str) -> int:
    return hashlib.sha256(send_id.encode()).digest()[0] % DUE_SHARDS


def due_key(bucket: str, send_id: str) -> dict[str, str]:
    return {"pk": f"DUE#{bucket}#{due_shard(send_id)}", "sk": send_id}


def _iso(value: datetime | None) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def record_from_item(item: dict[str, Any]) -> SendRecord:
    return SendRecord(
        send_id=str(item["send_id"]),
        status=item["status"],
        version=int(item.get("version", 0)),
        due_at=clock.parse_iso(item["due_at"]) if item.get("due_at") else None,
        channel=item.get("channel"),
        attempts=int(item.get("attempts", 0)),
        reason=item.get("reason"),
        day=item.get("day"),
        week=item.get("week"),
        coupon_id=item.get("coupon_id"),
        tried=tuple(item.get("tried") or ()),
    )


def _holders(item: dict[str, Any] | None) -> tuple[dict[str, Holder], int]:
    if not item:
        return {}, -1
    raw = item.get("holders") or {}
    holders = {
        sid: Holder(send_id=sid, priority=int(h["p"]), state=h["s"], at=str(h["at"]), until=h.get("u"))
        for sid, h in raw.items()
    }
    return holders, int(item.get("version", 0))


class DynamoDispatchStore:
    """:class:`~services.campaigns.logic.dispatch.DispatchStore` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._cancelled: dict[str, bool] = {}
        self._batch: _Batch | None = None
        self._grants: dict[str, bool] = {}
        # A request's JSON, serialised once per batch: a message created and held in one pass
        # writes it twice (the record's ``request`` and the due item's ``body``).
        self._bodies: dict[str, str] = {}

    # --- batch mode ----------------------------------------------------------------------------

    def begin(self, requests: list[SendRequest], now: datetime, zone: tzinfo) -> None:
        """Read what ``requests`` need (``BatchGetItem`` rounds) and buffer writes: the send records
        and the members' consent summaries, the consent items of members without a summary (a
        round only they cost), then the cap counters."""
        batch = _Batch(now=now)
        self._batch = batch
        keys: list[tuple[str, str]] = []
        for request in requests:
            keys.append((f"SEND#{request.send_id}", "SEND"))
            keys.append(summary_key(request))
        campaigns = {r.campaign_id for r in requests if r.campaign_id} - set(self._cancelled)
        keys.extend((f"CAMPAIGN#{c}", "CANCELLED") for c in sorted(campaigns))
        found = self._batch_get(keys)
        for campaign_id in campaigns:
            self._cancelled[campaign_id] = (f"CAMPAIGN#{campaign_id}", "CANCELLED") in found
        # No summary yet (a member whose consents predate it, or one campaigns never heard of):
        # the items themselves, as before the summary existed.
        unsummarised = [r for r in requests if summary_key(r) not in found]
        if unsummarised:
            found.update(self._batch_get([k for r in unsummarised for k in consent_keys(r)]))
        caps: list[tuple[str, str]] = []
        for request in requests:
            item = found.get((f"SEND#{request.send_id}", "SEND"))
            record = record_from_item(item) if item else None
            batch.records[request.send_id] = record
            summary = found.get(summary_key(request))
            if summary is not None:
                consents = consents_from_summary(request, summary)
            else:
                consents = consents_from([found[k] for k in consent_keys(request) if k in found])
            batch.consents[request.member_id] = consents
            caps.extend(self._caps_needed(request, record, consents, now, zone))
        for key in caps:
            batch.caps[key] = None
        batch.caps.update(self._batch_get(caps))

    @staticmethod
    def _caps_needed(
        request: SendRequest, record: SendRecord | None, consents: Consents, now: datetime, zone: tzinfo
    ) -> list[tuple[str, str]]:
        """The cap counters the evaluation of ``request`` will read (a guess that may miss: a miss
        is one GetItem, never a wrong answer)."""
        if request.kind != "marketing":
            return []
        if record is not None and (
            record.status in TERMINAL or (record.due_at is not None and record.due_at > now)
        ):
            return []
        keys: list[tuple[str, str]] = []
        if record is not None and record.status == "held" and record.channel and record.day and record.week:
            # The window is over: the day counter says whether the slot is still this message's
            # (``day_holder``; the week's holder is written and freed with it). The rest is read
            # only when it is not, or when the channel changed (one GetItem each, then).
            return [(f"CAP#{request.member_id}#{record.channel}", f"DAY#{record.day}")]
        channel = choose_channel(request, consents, record.tried if record else ()).channel
        if channel is not None:
            pk = f"CAP#{request.member_id}#{channel}"
            keys += [(pk, f"DAY#{day_key(now, zone)}"), (pk, f"WEEK#{week_key(now, zone)}")]
        return keys

    def _batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """ConsistentRead BatchGetItem of ``keys`` (100 a call, unprocessed keys retried)."""
        unique = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        ddb = client("dynamodb")
        for start in range(0, len(unique), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [_key(pk, sk) for pk, sk in unique[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                    "ProjectionExpression": _BATCH_PROJECTION,
                    "ExpressionAttributeNames": _BATCH_NAMES,
                }
            }
            for attempt in range(10):
                response = ddb.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    item = _plain_item(raw)
                    found[(str(item["pk"]), str(item["sk"]))] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.025 * 2**attempt) * random.random())  # noqa: S311 - jitter
            else:
                raise RuntimeError("BatchGetItem left keys unprocessed after 10 attempts")
        return found

    def _pending(self, send_id: str) -> _Pending:
        assert self._batch is not None
        return self._batch.pending.setdefault(send_id, _Pending())

    def take_rate_tokens(self, demands: list[NeedRateToken]) -> dict[str, bool]:
        """The tokens the batch's messages asked for, one ``ADD`` per (campaign, minute) as long as
        the first shard tried has room: it is picked by a hash of the group's first send id (so
        batches spread over the shards), and what it cannot grant is asked of the next shard, and
        so on (a minute's last tokens may take a call per shard)."""
        groups: dict[tuple[str, datetime, int], list[str]] = {}
        for need in demands:
            groups.setdefault((need.campaign_id, need.minute, need.limit), []).append(need.send_id)
        for (campaign_id, minute, limit), send_ids in groups.items():
            granted = self._take_tokens(campaign_id, minute, limit, send_ids[0], len(send_ids))
            for i, send_id in enumerate(send_ids):
                self._grants[send_id] = i < granted
        return {need.send_id: self._grants[need.send_id] for need in demands}

    def _take_tokens(
        self, campaign_id: str, minute: datetime, limit: int, first_send_id: str, wanted: int
    ) -> int:
        """How many of ``wanted`` tokens the minute still has, shard after shard from the one
        ``first_send_id`` hashes to."""
        shards = rate_shards(limit)
        first = rate_shard(first_send_id, shards)
        granted = 0
        for step in range(shards):
            if granted == wanted:
                break
            granted += self._add_tokens(campaign_id, minute, limit, (first + step) % shards, wanted - granted)
        return granted

    def _add_tokens(self, campaign_id: str, minute: datetime, limit: int, shard: int, wanted: int) -> int:
        """Add ``wanted`` to the shard's count; how many of them fall within its share."""
        answer = client("dynamodb").update_item(
            TableName=self.table_name,
            Key=_fast_item(rate_key(campaign_id, shard, minute)),
            UpdateExpression="ADD #n :k SET #ttl = :ttl",
            ExpressionAttributeNames={"#n": "sent", "#ttl": "ttl"},
            ExpressionAttributeValues=_fast_item(
                {":k": wanted, ":ttl": clock.epoch_seconds(minute + RATE_TTL)}
            ),
            ReturnValues="UPDATED_NEW",
        )
        total = int(answer["Attributes"]["sent"]["N"])
        share = shard_limit(limit, rate_shards(limit), shard)
        return max(0, min(wanted, share - (total - wanted)))

    def discard(self, send_id: str) -> None:
        if self._batch is not None:
            self._batch.pending.pop(send_id, None)

    def end(self) -> None:
        self._batch = None
        self._grants = {}
        self._bodies = {}

    def _body(self, request: SendRequest) -> str:
        if self._batch is None:
            return request.model_dump_json()
        body = self._bodies.get(request.send_id)
        if body is None:
            body = self._bodies[request.send_id] = request.model_dump_json()
        return body

    def commit(self) -> dict[str, Exception]:
        """Write the buffered changes (see the module doc); the messages that did not commit."""
        assert self._batch is not None
        pending, self._batch.pending = self._batch.pending, {}
        groups = [(send_id, self._render(p), p.stats) for send_id, p in pending.items()]
        failed: dict[str, Exception] = {}
        chunk: list[tuple[str, list[dict[str, Any]], dict[tuple[str, str], dict[str, int]]]] = []
        stats_keys: set[tuple[str, str]] = set()
        size = 0
        for group in groups:
            extra = len(set(group[2]) - stats_keys)
            if chunk and size + len(group[1]) + extra > MAX_TRANSACT_ITEMS:
                self._commit_chunk(chunk, failed)
                chunk, stats_keys, size = [], set(), 0
                extra = len(group[2])
            chunk.append(group)
            stats_keys |= set(group[2])
            size += len(group[1]) + extra
        if chunk:
            self._commit_chunk(chunk, failed)
        return failed

    def _commit_chunk(
        self,
        chunk: list[tuple[str, list[dict[str, Any]], dict[tuple[str, str], dict[str, int]]]],
        failed: dict[str, Exception],
    ) -> None:
        ddb = client("dynamodb")
        shared_conflicts = 0
        while chunk:
            items, owners = self._chunk_items(chunk, shared_conflicts)
            if not items:
                return
            try:
                ddb.transact_write_items(TransactItems=items)
                return
            except Exception as exc:
                reasons = cancellation_reasons(exc)
                losers = {
                    owner
                    for owner, reason in zip(owners, reasons, strict=False)
                    if owner is not None and reason not in ("None", "")
                }
                if not reasons:
                    for send_id, _, _ in chunk:
                        failed[send_id] = exc
                    return
                if losers:
                    for send_id in losers:
                        failed[send_id] = Conflict(f"{send_id}: moved meanwhile ({exc})")
                    chunk = [group for group in chunk if group[0] not in losers]
                    continue
                # Only the campaign counters were busy (another dispatcher's transaction).
                shared_conflicts += 1
                if shared_conflicts >= SHARED_ITEM_ATTEMPTS:
                    for send_id, _, _ in chunk:
                        failed[send_id] = Conflict(f"campaign counters busy: {exc}")
                    return
                time.sleep(0.02 * 2**shared_conflicts * random.random())  # noqa: S311 - jitter

    def _chunk_items(
        self,
        chunk: list[tuple[str, list[dict[str, Any]], dict[tuple[str, str], dict[str, int]]]],
        attempt: int = 0,
    ) -> tuple[list[dict[str, Any]], list[str | None]]:
        """The transaction's items and, for each, the message it belongs to (None: the campaign
        counters, one ``ADD`` per campaign and variant for all the chunk's messages, on the
        counter shard of the chunk's first send id — another shard when retried after a conflict
        on it)."""
        items: list[dict[str, Any]] = []
        owners: list[str | None] = []
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for send_id, ops, stats in chunk:
            items.extend(ops)
            owners.extend([send_id] * len(ops))
            for key, counters in stats.items():
                merged = totals.setdefault(key, {})
                for name, n in counters.items():
                    merged[name] = merged.get(name, 0) + n
        shard_key = f"{chunk[0][0]}#{attempt}" if attempt else chunk[0][0]
        for (campaign_id, variant), counters in totals.items():
            items.append(self._stats_op(campaign_id, variant, counters, shard_key))
            owners.append(None)
        return items, owners

    def _render(self, pending: _Pending) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        if pending.record is not None:
            ops.append(self._render_record(pending.record))
        for (pk, sk), change in pending.caps.items():
            ops.append(self._render_cap(pk, sk, change))
        ops.extend(pending.ops)
        return ops

    def _render_record(self, change: _RecordChange) -> dict[str, Any]:
        if change.new_item is not None:
            item = dict(change.new_item)
            for name in change.removes:
                item.pop(name, None)
            item.update(change.sets)
            item["version"] = change.moves
            item["attempts"] = int(item.get("attempts", 0)) + change.attempts
            return _put(self.table_name, item, condition="attribute_not_exists(pk)")
        return self._record_op(
            change.send_id, change.base_version, change.moves, change.sets, change.removes, change.attempts
        )

    def _render_cap(self, pk: str, sk: str, change: _CapChange) -> dict[str, Any]:
        if change.version is None:  # only marks: the holder must still be there
            [send_id] = change.mark_sent
            return self._mark_sent_op(pk, sk, send_id)
        sets = {
            sid: holder | ({"s": "sent"} if sid in change.mark_sent else {})
            for sid, holder in change.sets.items()
        }
        return self._cap_op(pk, sk, change.version, sets, change.removes, change.ttl)

    # --- reads ---------------------------------------------------------------------------------

    def campaign_cancelled(self, campaign_id: str) -> bool:
        """The cancelled marker planning writes with the status (``CAMPAIGN#<id>`` /
        ``CANCELLED``). Read once per campaign per store — the handler builds one store per
        batch, so a batch of ten messages of one campaign costs one small GetItem, and a
        cancellation is seen by the next batch."""
        if campaign_id not in self._cancelled:
            item = client("dynamodb").get_item(
                TableName=self.table_name,
                Key=_fast_item({"pk": f"CAMPAIGN#{campaign_id}", "sk": "CANCELLED"}),
                ConsistentRead=True,
                ProjectionExpression="pk",
            )
            self._cancelled[campaign_id] = "Item" in item
        return self._cancelled[campaign_id]

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table_name, Key=_fast_item(key), ConsistentRead=True)
            .get("Item")
        )
        return from_item(item) if item else None

    def get(self, send_id: str) -> SendRecord | None:
        if self._batch is not None and send_id in self._batch.records:
            return self._batch.records[send_id]
        item = self._get(send_key(send_id))
        return record_from_item(item) if item else None

    def request_body(self, send_id: str) -> str | None:
        item = self._get(send_key(send_id))
        return str(item["request"]) if item and item.get("request") else None

    def consents(self, member_id: str) -> Consents:
        if self._batch is not None and member_id in self._batch.consents:
            return self._batch.consents[member_id]
        items = query_all(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": _fast_item(
                    {":pk": f"MEMBER#{member_id}", ":prefix": "CONSENT#"}
                ),
                "ConsistentRead": True,
            }
        )
        return consents_from(list(items))

    def _cap_item(self, member_id: str, channel: str, period: str) -> dict[str, Any] | None:
        key = cap_key(member_id, channel, period)
        if self._batch is None:
            return self._get(key)
        cache_key = (key["pk"], key["sk"])
        if cache_key not in self._batch.caps:  # a counter begin() did not foresee
            self._batch.caps[cache_key] = self._get(key)
        return self._batch.caps[cache_key]

    def day_holder(self, member_id: str, channel: Channel, day: str, send_id: str) -> Holder | None:
        return _holders(self._cap_item(member_id, channel, f"DAY#{day}"))[0].get(send_id)

    def slots(self, member_id: str, channel: Channel, day: str, week: str) -> Slots:
        day_holders, day_version = _holders(self._cap_item(member_id, channel, f"DAY#{day}"))
        week_holders, week_version = _holders(self._cap_item(member_id, channel, f"WEEK#{week}"))
        return Slots(day_holders, week_holders, day_version, week_version)

    def last_contact(self, member_id: str) -> datetime | None:
        item = self._get({"pk": f"MEMBER#{member_id}", "sk": "LAST_CONTACT"})
        return clock.parse_iso(item["contacted_at"]) if item else None

    # --- transaction pieces --------------------------------------------------------------------

    def _record_op(  # noqa: PLR0917 - one update, every part named at the call
        self,
        send_id: str,
        version: int,
        moves: int,
        sets: dict[str, Any],
        removes: set[str] | tuple[str, ...],
        attempts: int,
    ) -> dict[str, Any]:
        # Names are aliased only where DynamoDB reserves the word (every alias is two more
        # strings in the request, and dispatch writes a record update per message per pass).
        names = {f"#{k}": k for k in (*sets, *removes) if k not in _PLAIN_NAMES}
        values = {f":{k}": v for k, v in sets.items()} | {":v": version, ":v1": version + moves}
        expression = "SET " + ", ".join([f"{_name(k)} = :{k}" for k in sets] + ["version = :v1"])
        if attempts:
            expression += ", attempts = if_not_exists(attempts, :zero) + :one"
            values |= {":zero": 0, ":one": attempts}
        if removes:
            expression += " REMOVE " + ", ".join(_name(k) for k in sorted(removes))
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _fast_item(send_key(send_id)),
            "UpdateExpression": expression,
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": _fast_item(values),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}

    def _record_update(
        self,
        record: SendRecord,
        sets: dict[str, Any],
        *,
        remove: tuple[str, ...] = (),
        add_attempt: bool = False,
    ) -> dict[str, Any] | None:
        """The record's move as a transaction item; in batch mode folded into the message's
        buffered change instead (None)."""
        # A None value means "no value": the attribute is removed rather than set.
        removed = set(remove) | {k for k, v in sets.items() if v is None}
        kept = {k: v for k, v in sets.items() if v is not None}
        if self._batch is None:
            return self._record_op(record.send_id, record.version, 1, kept, removed, int(add_attempt))
        pending = self._pending(record.send_id)
        if pending.record is None:
            pending.record = _RecordChange(record.send_id, None, record.version)
        change = pending.record
        for name in removed:
            change.sets.pop(name, None)
        change.removes = (change.removes | removed) - set(kept)
        change.sets.update(kept)
        change.moves += 1
        change.attempts += int(add_attempt)
        return None

    def _stats_op(
        self, campaign_id: str, variant: str, counters: dict[str, int], shard_key: str
    ) -> dict[str, Any]:
        return stats_update_op(self.table_name, campaign_id, variant, counters, shard_key=shard_key)

    def _stats(self, request: SendRequest, counters: dict[str, int]) -> list[dict[str, Any]]:
        if not request.campaign_id or not counters:
            return []
        if self._batch is None:
            return [self._stats_op(request.campaign_id, request.stats_variant(), counters, request.send_id)]
        merged = self._pending(request.send_id).stats.setdefault(
            (request.campaign_id, request.stats_variant()), {}
        )
        for name, n in counters.items():
            merged[name] = merged.get(name, 0) + n
        return []

    def _outbox(self, event: EventData, request: SendRequest, now: datetime) -> list[dict[str, Any]]:
        item = outbox_item(event, correlation_id=request.send_id, producer=PRODUCER, now=now)
        return outbox_ops(self.table_name, item, request.member_id)

    def _due(self, request: SendRequest, until: datetime) -> dict[str, Any]:
        bucket = bucket_of(until)
        item = {
            **due_key(bucket, request.send_id),
            "entity": "dispatch_due",
            "bucket": bucket,
            "body": self._body(request),
            "ttl": clock.epoch_seconds(until + DUE_TTL),
        }
        return _put(self.table_name, item)

    def _write(self, items: list[dict[str, Any] | None], owner: str) -> None:
        """Write the transaction, or (batch mode) buffer its items under the message ``owner``."""
        ops = [item for item in items if item is not None]
        if self._batch is not None:
            self._pending(owner).ops.extend(ops)
            return
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            raise Conflict(f"send record moved meanwhile (items {failed.failed_indexes})") from failed

    def _suppressed_event(
        self,
        request: SendRequest,
        *,
        outcome: Literal["deferred", "suppressed", "failed"],
        reason: str,
        channel: Channel | None,
        until: datetime | None,
        now: datetime,
    ) -> MessageSuppressed:
        return MessageSuppressed(
            send_id=request.send_id,
            member_id=request.member_id,
            kind=request.kind,
            campaign_id=request.campaign_id,
            variant=request.variant,
            journey=request.journey,
            channel=channel,
            outcome=outcome,
            reason=reason,
            deferred_until=until,
            decided_at=now,
        )

    # --- writes --------------------------------------------------------------------------------

    def create(self, request: SendRequest, now: datetime) -> SendRecord:
        item = {
            **send_key(request.send_id),
            "entity": "send",
            "send_id": request.send_id,
            "member_id": request.member_id,
            "kind": request.kind,
            "campaign_id": request.campaign_id,
            "variant": request.variant,
            "journey": request.journey,
            "status": "pending",
            "version": 0,
            "attempts": 0,
            "request": self._body(request),
            "created_at": clock.to_utc_iso(now),
            "ttl": clock.epoch_seconds(now + SEND_RECORD_TTL),
        }
        ref = {
            "pk": f"MEMBER#{request.member_id}",
            "sk": f"SENDREF#{request.send_id}",
            "entity": "send_ref",
            "send_id": request.send_id,
            "ttl": item["ttl"],
        }
        # A message journey's occurrence (birthday, points expiring) is created with its record:
        # one per send, listed by GET /v1/admin/journeys/{name}/executions (dal/occurrences.py).
        extra = [
            _put(self.table_name, i)
            for i in _occurrence_items(request, clock.epoch_seconds(now + SEND_RECORD_TTL))
        ]
        if self._batch is not None:
            pending = self._pending(request.send_id)
            pending.record = _RecordChange(request.send_id, item, 0)
            pending.ops.append(_put(self.table_name, ref))
            pending.ops.extend(extra)
            record = SendRecord(send_id=request.send_id, status="pending", version=0)
            self._batch.records[request.send_id] = record  # a second evaluation (rate) sees it
            return record
        try:
            # The member's reference lets erasure find the record without a scan.
            transact_write(
                [
                    _put(self.table_name, item, condition="attribute_not_exists(pk)"),
                    _put(self.table_name, ref),
                    *extra,
                ]
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
            existing = self.get(request.send_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise Conflict("send record vanished") from exc
            return existing
        return SendRecord(send_id=request.send_id, status="pending", version=0)

    def _cap_op(  # noqa: PLR0917 - one counter update, every part named at the call
        self,
        pk: str,
        sk: str,
        version: int,
        sets: dict[str, Any],
        remove: list[str],
        ttl: int,
    ) -> dict[str, Any]:
        if version < 0:
            # First holder of the period: the counter is created whole, by a conditional Put (the
            # same item an Update would make, in about half the request's attribute nodes).
            item = {"pk": pk, "sk": sk, "entity": "frequency_cap", "holders": dict(sets), "version": 0}
            return _put(self.table_name, item | {"ttl": ttl}, condition="attribute_not_exists(pk)")
        # An existing counter (it has its ``entity`` since its creation).
        names: dict[str, str] = {"#h": "holders", "#version": "version", "#ttl": "ttl"}
        values: dict[str, Any] = {":v1": version + 1, ":ttl": ttl}
        parts = ["#version = :v1", "#ttl = :ttl"]
        for i, (sid, holder) in enumerate(sets.items()):
            names[f"#s{i}"] = sid
            values[f":h{i}"] = holder
            parts.append(f"#h.#s{i} = :h{i}")
        expression = "SET " + ", ".join(parts)
        if remove:
            for i, sid in enumerate(remove):
                names[f"#r{i}"] = sid
            expression += " REMOVE " + ", ".join(f"#h.#r{i}" for i in range(len(remove)))
        condition = "#version = :v"
        values[":v"] = version
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _fast_item({"pk": pk, "sk": sk}),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": _fast_item(values),
            }
        }

    def _mark_sent_op(self, pk: str, sk: str, send_id: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _fast_item({"pk": pk, "sk": sk}),
                "UpdateExpression": "SET #h.#sid.#s = :sent, #version = #version + :one",
                # Still ours: a higher priority may have taken it a moment ago.
                "ConditionExpression": "attribute_exists(#h.#sid)",
                "ExpressionAttributeNames": {
                    "#h": "holders",
                    "#sid": send_id,
                    "#s": "s",
                    "#version": "version",
                },
                "ExpressionAttributeValues": _fast_item({":sent": "sent", ":one": 1}),
            }
        }

    def hold(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        channel: Channel,
        day: str,
        week: str,
        slots: Slots,
        victim: str | None,
        until: datetime,
        now: datetime,
    ) -> SendRecord:
        # ``u``: from then on the slot is not taken (guardrails' module doc): the second pass
        # need not write the counters again to keep it.
        holder = {
            "p": request.priority,
            "s": "held",
            "at": clock.to_utc_iso(now),
            "u": clock.to_utc_iso(until - CLOCK_MARGIN),
        }
        remove = [victim] if victim else []
        ttl = clock.epoch_seconds(now + CAP_TTL)
        items: list[dict[str, Any] | None] = []
        for period, version in ((f"DAY#{day}", slots.day_version), (f"WEEK#{week}", slots.week_version)):
            key = cap_key(request.member_id, channel, period)
            if self._batch is None:
                op = self._cap_op(key["pk"], key["sk"], version, {request.send_id: holder}, remove, ttl)
                items.append(op)
            else:  # folded: sent in the same pass marks this very holder
                self._pending(request.send_id).caps[(key["pk"], key["sk"])] = _CapChange(
                    version, {request.send_id: holder}, remove, [], ttl
                )
        items += [
            self._record_update(
                record,
                {"status": "held", "due_at": _iso(until), "channel": channel, "day": day, "week": week},
            ),
        ]
        if victim:
            items.append(self._victim_held_op(victim))
        if until > now:
            items.append(self._due(request, until))
        self._write(items, record.send_id)
        return SendRecord(
            send_id=record.send_id,
            status="held",
            version=record.version + 1,
            due_at=until,
            channel=channel,
            attempts=record.attempts,
            reason=record.reason,
            day=day,
            week=week,
            tried=record.tried,
        )

    def release(self, record: SendRecord, member_id: str) -> None:
        if not (record.channel and record.day and record.week):
            return
        ddb = client("dynamodb")
        for period in (f"DAY#{record.day}", f"WEEK#{record.week}"):
            try:
                ddb.update_item(
                    TableName=self.table_name,
                    Key=_fast_item(cap_key(member_id, record.channel, period)),
                    UpdateExpression="REMOVE #h.#sid SET #version = #version + :one",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#h": "holders", "#sid": record.send_id, "#version": "version"},
                    ExpressionAttributeValues=_fast_item({":one": 1}),
                )
            except Exception as exc:
                if not is_conditional_check_failed(exc):
                    raise

    def take_rate_token(self, campaign_id: str, send_id: str, minute: datetime, limit: int) -> bool:
        if self._batch is not None:
            if send_id not in self._grants:
                raise NeedRateToken(send_id, campaign_id, minute, limit)
            return self._grants[send_id]
        return self._take_tokens(campaign_id, minute, limit, send_id, 1) == 1

    def defer(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        until: datetime,
        reason: str,
        channel: Channel | None,
        now: datetime,
        tried: tuple[Channel, ...] = (),
    ) -> SendRecord:
        event = self._suppressed_event(
            request, outcome="deferred", reason=reason, channel=channel, until=until, now=now
        )
        sets: dict[str, Any] = {"status": "pending", "due_at": _iso(until), "reason": reason}
        if tried:
            sets["tried"] = list(tried)
        self._write(
            [
                self._record_update(record, sets, remove=("day", "week")),
                self._due(request, until),
                *self._outbox(event, request, now),
                *self._stats(request, {"deferred": 1}),
            ],
            record.send_id,
        )
        return SendRecord(
            send_id=record.send_id,
            status="pending",
            version=record.version + 1,
            due_at=until,
            channel=record.channel,
            attempts=record.attempts,
            reason=reason,
            tried=tried or record.tried,
        )

    def finish(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        outcome: Literal["suppressed", "failed"],
        reason: str,
        channel: Channel | None,
        now: datetime,
    ) -> None:
        event = self._suppressed_event(
            request, outcome=outcome, reason=reason, channel=channel, until=None, now=now
        )
        counter = "failed" if outcome == "failed" else f"suppressed_{reason}"
        self._write(
            [
                self._record_update(
                    record,
                    {"status": outcome, "reason": reason, "finished_at": clock.to_utc_iso(now)},
                    remove=("request", "due_at"),
                ),
                *self._outbox(event, request, now),
                *self._stats(request, {counter: 1}),
            ],
            record.send_id,
        )

    def start_sending(
        self, record: SendRecord, request: SendRequest, *, channel: Channel, lease_until: datetime
    ) -> SendRecord:
        sets: dict[str, Any] = {"status": "sending", "due_at": _iso(lease_until)}
        if channel != record.channel:  # a held or retried record has its channel already
            sets["channel"] = channel
        items: list[dict[str, Any] | None] = [self._record_update(record, sets, add_attempt=True)]
        if record.status == "held" and record.day and record.week:
            # Day and week holders are written together with the same window end: the day
            # counter's (read by the second pass) decides for both.
            day_counter = cap_key(request.member_id, channel, f"DAY#{record.day}")
            for period in (f"DAY#{record.day}", f"WEEK#{record.week}"):
                key = cap_key(request.member_id, channel, period)
                if self._batch is None:
                    items.append(self._mark_sent_op(key["pk"], key["sk"], record.send_id))
                    continue
                caps = self._pending(record.send_id).caps
                folded = caps.get((key["pk"], key["sk"]))
                if folded is None and self._window_closes(day_counter, record.send_id):
                    # Its window is over (the lease is written at or after ``due_at``): no arrival
                    # picks this slot any more, so it is not written again. The lease only checks
                    # that the slot is still ours (an eviction decided in the window may commit
                    # late); an eviction committing after the lease fails on the victim's record
                    # (:meth:`hold`). One check suffices: evictions free day and week together.
                    if period.startswith("DAY#"):
                        self._pending(record.send_id).ops.append(
                            self._still_holds_op(key["pk"], key["sk"], record.send_id)
                        )
                    continue
                change = folded or caps.setdefault((key["pk"], key["sk"]), _CapChange(None))
                change.mark_sent.append(record.send_id)
        self._write(items, record.send_id)
        return SendRecord(
            send_id=record.send_id,
            status="sending",
            version=record.version + 1,
            due_at=lease_until,
            channel=channel,
            attempts=record.attempts + 1,
            reason=record.reason,
            day=record.day,
            week=record.week,
            tried=record.tried,
        )

    def _still_holds_op(self, pk: str, sk: str, send_id: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": _key(pk, sk),
                "ConditionExpression": "attribute_exists(holders.#sid)",
                "ExpressionAttributeNames": {"#sid": send_id},
            }
        }

    def _victim_held_op(self, victim: str) -> dict[str, Any]:
        """The evicted message has not started sending: an eviction decided during its window but
        committed after its lease fails here (and is decided again) instead of freeing a slot
        whose message is on its way."""
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": _key(f"SEND#{victim}", "SEND"),
                "ConditionExpression": "#status = :held",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":held": {"S": "held"}},
            }
        }

    def _window_closes(self, key: dict[str, str], send_id: str) -> bool:
        """The counter read in this batch holds ``send_id`` with a window end (``u``): it stops
        being takeable by the clock. A holder without one (written before ``u`` existed) is marked
        sent, as it always was."""
        assert self._batch is not None
        item = self._batch.caps.get((key["pk"], key["sk"]))
        holder = ((item or {}).get("holders") or {}).get(send_id)
        return isinstance(holder, dict) and holder.get("u") is not None

    def retry(self, record: SendRecord, request: SendRequest, *, until: datetime, reason: str) -> SendRecord:
        self._write(
            [
                self._record_update(record, {"status": "retry", "due_at": _iso(until), "reason": reason}),
                self._due(request, until),
            ],
            record.send_id,
        )
        return SendRecord(
            send_id=record.send_id,
            status="retry",
            version=record.version + 1,
            due_at=until,
            channel=record.channel,
            attempts=record.attempts,
            reason=reason,
            tried=record.tried,
        )

    def mark_sent(
        self,
        record: SendRecord,
        request: SendRequest,
        message: OutgoingMessage,
        delivery: Delivery,
        *,
        coupon_id: str | None,
        now: datetime,
    ) -> None:
        sent = MessageSent(
            send_id=request.send_id,
            member_id=request.member_id,
            kind=request.kind,
            campaign_id=request.campaign_id,
            variant=request.variant,
            journey=request.journey,
            channel=message.channel,
            provider_message_id=delivery.provider_message_id,
            coupon_id=coupon_id,
            attempts=max(1, record.attempts),
            sent_at=now,
        )
        sets: dict[str, Any] = {
            "status": "sent",
            "sent_at": clock.to_utc_iso(now),
            "provider_message_id": delivery.provider_message_id,
        }
        if coupon_id:
            sets["coupon_id"] = coupon_id
        if message.channel == "sms" and delivery.provider_message_id:
            # SNS's delivery status names only its message id: the record's sparse gsi1 entry
            # (SMSMSG#<id>) lets the receipt find it with one Query, and goes with the record on
            # erasure (dal/receipts.py).
            from services.campaigns.dal.receipts import sms_index_keys  # noqa: PLC0415

            sets |= sms_index_keys(delivery.provider_message_id)
        if message.channel == "wechat" and delivery.provider_message_id:
            # WeChat's subscribe_msg_sent_event names only the msgid: the same kind of entry
            # (WXMSG#<msgid>). A delivery confirmed at send (the local fake) is stamped, so that a
            # later push for it is a replay, not a second delivery.
            from services.campaigns.dal.receipts import wechat_index_keys  # noqa: PLC0415

            sets |= wechat_index_keys(delivery.provider_message_id)
            if delivery.delivered:
                sets["delivered_at"] = clock.to_utc_iso(now)
        items: list[dict[str, Any] | None] = [
            # ``reason`` is removed only where a deferral or a retry left one (REMOVE of an absent
            # attribute costs a name in every request for nothing).
            self._record_update(
                record, sets, remove=("request", "due_at", *(("reason",) if record.reason else ()))
            ),
            *self._outbox(sent, request, now),
        ]
        counters = {"sent": 1}
        if delivery.delivered:
            counters["delivered"] = 1
            items.extend(
                self._outbox(
                    MessageDelivered(
                        send_id=request.send_id,
                        member_id=request.member_id,
                        campaign_id=request.campaign_id,
                        variant=request.variant,
                        channel=message.channel,
                        delivered_at=now,
                    ),
                    request,
                    now,
                )
            )
        items.extend(self._stats(request, counters))
        if request.kind == "marketing":
            items.append(
                _put(
                    self.table_name,
                    {
                        "pk": f"MEMBER#{request.member_id}",
                        "sk": "LAST_CONTACT",
                        "entity": "last_contact",
                        "contacted_at": clock.to_utc_iso(now),
                        "send_id": request.send_id,
                        "channel": message.channel,
                    },
                )
            )
        if message.channel == "inbox":
            items.append(_put(self.table_name, inbox_item(request, message, now)))
        self._write(items, record.send_id)


MESSAGE_JOURNEYS = frozenset({"birthday", "points_expiring"})  # logic/journeys.py's, held equal by a test


def _occurrence_items(request: SendRequest, ttl: int) -> list[dict[str, Any]]:
    """The occurrence of a birthday or points-expiring request and its member reference (none for
    other requests). Imported only for those: campaign messages do not load the journeys."""
    if request.journey not in MESSAGE_JOURNEYS:
        return []
    from services.campaigns.dal.occurrences import occurrence_items  # noqa: PLC0415
    from services.campaigns.logic.journeys import occurrence_from_request  # noqa: PLC0415

    occurrence = occurrence_from_request(request, ids.new_ulid())
    return occurrence_items(occurrence, ttl) if occurrence is not None else []


def inbox_item(request: SendRequest, message: OutgoingMessage, now: datetime) -> dict[str, Any]:
    message_id = ids.new_ulid()
    return {
        "pk": f"MEMBER#{request.member_id}",
        "sk": f"INBOX#{message_id}",
        "entity": "inbox_message",
        "message_id": message_id,
        "send_id": request.send_id,
        "kind": request.kind,
        "campaign_id": request.campaign_id,
        "variant": request.variant,
        "topic": request.topic,
        "title": message.title,
        "body": message.body,
        "link": message.link,
        "sent_at": clock.to_utc_iso(now),
    }


def outbox_ops(table_name: str, item: dict[str, Any], member_id: str) -> list[dict[str, Any]]:
    """The outbox Put of an event about one member, kept in that member's partition
    (``MEMBER#<id>`` / ``OUTBOX#<event_id>``, not ``OUTBOX#<event_id>`` / ``OUTBOX``).

    Outbox items carry the member id until their 7-day TTL. In the member's partition the
    erasure's consistent Query of ``MEMBER#<id>`` finds and deletes them with everything else, so
    no reference item is needed (one transactional item per event fewer than the
    ``OUTBOXREF#`` reference this replaced). The stream publisher does not delete them after
    publishing (its IAM policy reaches ``OUTBOX#*`` keys only: shared/outbox.py); the TTL or the
    member's erasure does."""
    member_item = {**item, "pk": f"MEMBER#{member_id}", "sk": f"OUTBOX#{item['event_id']}"}
    return [_put(table_name, member_item, condition="attribute_not_exists(pk)")]


def erase_member_delivery(table_name: str, member_id: str, member_items: list[dict[str, Any]]) -> int:
    """Erasure (called by the privacy consumer before it deletes the member's ``MEMBER#`` items):
    the member's send records (found through their ``SENDREF#`` references) with any due-index
    entry, and the member's cap counters. Idempotent; returns how many items were deleted. Campaign
    counters keep their aggregates; published events are not recalled."""
    ddb = client("dynamodb")
    deleted = 0
    for ref in member_items:
        # An outbox item's reference, written before outbox items moved into the member's
        # partition (outbox_ops); the partition's own outbox items go with the partition.
        if ref.get("entity") == "outbox_ref":  # published long since: the bus has it
            ddb.delete_item(
                TableName=table_name, Key=_fast_item({"pk": str(ref["outbox_pk"]), "sk": "OUTBOX"})
            )
            deleted += 1
            continue
        if ref.get("entity") != "send_ref":
            continue
        key = send_key(str(ref["send_id"]))
        item = ddb.get_item(TableName=table_name, Key=_fast_item(key), ConsistentRead=True).get("Item")
        if item:
            record = from_item(item)
            if record.get("due_at"):
                due = due_key(bucket_of(clock.parse_iso(str(record["due_at"]))), str(record["send_id"]))
                ddb.delete_item(TableName=table_name, Key=_fast_item(due))
            ddb.delete_item(TableName=table_name, Key=_fast_item(key))
            deleted += 1
    for channel in CHANNELS:
        request = {
            "TableName": table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": _fast_item({":pk": f"CAP#{member_id}#{channel}"}),
            "ConsistentRead": True,
        }
        for cap in query_all(request):
            ddb.delete_item(TableName=table_name, Key=_fast_item({"pk": cap["pk"], "sk": cap["sk"]}))
            deleted += 1
    return deleted


def is_terminal(record: SendRecord | None) -> bool:
    return record is not None and record.status in TERMINAL


# --- the due index's wake-ups (EventBridge Scheduler one-time schedules) ------------------------


def schedule_name(bucket: str, suffix: str = "") -> str:
    """``campaigns-due-<yyyymmddhhmm>``: one one-time schedule per minute that has deferred sends."""
    compact = bucket[:16].replace("-", "").replace(":", "").replace("T", "")
    return f"campaigns-due-{compact}{suffix}"


class SchedulerWaker:
    """:class:`~services.campaigns.logic.dispatch.Waker`: for each minute bucket that holds deferred
    sends, one EventBridge Scheduler ``at()`` schedule per due-index shard (``DUE_SHARDS``), each
    invoking ``CampaignsDispatchDueFunction`` with ``{"bucket": ..., "shard": n}`` and deleted after
    it ran: the shards of a minute are released by parallel invocations, not one after the other
    (no threads: moto under the local cloud is not thread-safe). A shard with nothing due costs one
    invocation and one ``Query``.

    A marker item ``WAKE#<name>`` records that the minute's schedules were created, so a launch that
    defers a million messages to 09:00 reads one small item per message (GetItem) instead of
    calling CreateSchedule a million times (its API quota is far lower). The schedules are created
    *before* the marker is written: a crash in between only means the next message creates them
    again (``ConflictException``, ignored).
    """

    def __init__(
        self,
        target_arn: str,
        role_arn: str,
        group: str = "default",
        dead_letter_arn: str | None = None,
        *,
        table_name: str,
    ) -> None:
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.group = group
        self.dead_letter_arn = dead_letter_arn
        self.table_name = table_name
        # Schedules this waker saw armed. The handler builds one waker per invocation, so this
        # only spares a batch's messages of one minute the same marker read (it cannot go stale
        # across restarts the way a module-level cache did).
        self._armed: set[str] = set()

    def ensure(
        self, at: datetime, *, suffix: str = "", bucket: str | None = None, shard: int | None = None
    ) -> None:
        """Fire at ``at``'s minute for that minute's bucket (or for ``bucket``: a follow-up run), one
        schedule per due shard, or only for ``shard`` (a follow-up of that shard's run)."""
        fire_at = bucket_of(at)
        bucket = bucket or fire_at
        name = schedule_name(bucket, suffix if shard is None else f"-s{shard}{suffix}")
        if name in self._armed:
            return
        marker = _fast_item({"pk": f"WAKE#{name}", "sk": "WAKE"})
        ddb = client("dynamodb")
        if ddb.get_item(TableName=self.table_name, Key=marker).get("Item"):
            self._armed.add(name)
            return
        schedules = [(f"{name}-s{n}", n) for n in range(DUE_SHARDS)] if shard is None else [(name, shard)]
        for schedule, n in schedules:
            self._create(schedule, fire_at, {"bucket": bucket, "shard": n})
        ddb.put_item(
            TableName=self.table_name,
            Item=_fast_item(
                {
                    "pk": f"WAKE#{name}",
                    "sk": "WAKE",
                    "entity": "due_wake_up",
                    "bucket": bucket,
                    "ttl": clock.epoch_seconds(clock.parse_iso(fire_at) + timedelta(days=2)),
                }
            ),
        )
        self._armed.add(name)

    def _create(self, name: str, fire_at: str, payload: dict[str, Any]) -> None:
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(payload),
            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        try:
            client("scheduler").create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=f"at({fire_at[:19]})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target=target,
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "ConflictException":
                raise


class DueIndex:
    """Reads and clears one minute bucket of the due index (``CampaignsDispatchDueFunction``)."""

    SEND_BATCH = 10  # SendMessageBatch's limit
    DELETE_BATCH = 25  # BatchWriteItem's limit

    def __init__(self, table_name: str, queue_url: str) -> None:
        self.table_name = table_name
        self.queue_url = queue_url

    def release(self, bucket: str, *, shard: int | None = None, keep_going: Any = None) -> tuple[int, bool]:
        """Send every due body of ``bucket`` (of its ``shard`` only, when given) back to the
        dispatch queue, then delete its items (a body sent whose item is not deleted yet — the
        function stopped in between — is sent again by the next run: dispatch is idempotent).

        Returns (released, finished); stops early (finished False) when ``keep_going()`` says so.
        """
        ddb = client("dynamodb")
        sqs = client("sqs")
        released = 0
        shards: list[int] = list(range(DUE_SHARDS)) if shard is None else [shard]
        for n in shards:
            pk = f"DUE#{bucket}#{n}"
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                # Only what the release needs: the key's sort part and the body.
                "ProjectionExpression": "sk, #body",
                "ExpressionAttributeNames": {"#body": "body"},
                "ExpressionAttributeValues": {":pk": {"S": pk}},
                "ConsistentRead": True,
            }
            batch: list[dict[str, Any]] = []
            sent: list[str] = []  # sort keys whose bodies are on the queue, to delete
            stopped = False
            while not stopped:
                page = ddb.query(**request)
                for raw in page.get("Items", []):
                    batch.append(raw)
                    if len(batch) == self.SEND_BATCH:
                        released += self._send(sqs, batch, sent)
                        batch = []
                        if len(sent) >= self.DELETE_BATCH:
                            self._delete(ddb, pk, sent, full_chunks_only=True)
                        if keep_going is not None and not keep_going():
                            stopped = True
                            break
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if batch:
                released += self._send(sqs, batch, sent)
            self._delete(ddb, pk, sent)
            if stopped or (keep_going is not None and n != shards[-1] and not keep_going()):
                return released, False
        return released, True

    def _send(self, sqs: Any, batch: list[dict[str, Any]], sent: list[str]) -> int:
        response = sqs.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[{"Id": str(i), "MessageBody": item["body"]["S"]} for i, item in enumerate(batch)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"dispatch queue refused {len(response['Failed'])} message(s)")
        sent.extend(item["sk"]["S"] for item in batch)
        return len(batch)

    def _delete(self, ddb: Any, pk: str, sent: list[str], *, full_chunks_only: bool = False) -> None:
        """Delete the released items, 25 a call (what is left unprocessed expires with its TTL:
        its body is on the queue already). Mid-bucket, only full calls are made: the rest waits
        for the next bodies sent, so a bucket costs one call per 25 items, not one per 10 sent."""
        while len(sent) >= (self.DELETE_BATCH if full_chunks_only else 1):
            chunk, sent[:] = sent[: self.DELETE_BATCH], sent[self.DELETE_BATCH :]
            ddb.batch_write_item(
                RequestItems={
                    self.table_name: [
                        {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for sk in chunk
                    ]
                }
            )
