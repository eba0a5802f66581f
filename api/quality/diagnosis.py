"""One diagnosis per cause, and whose network it was.

The detectors raise issues per stream (a receiver's loss, its concealment,
its low MOS, a dry track). Many of them follow from one cause: loss on
Alice's uplink shows as loss, concealment and a low MOS at every one of
her receivers. This module groups them, per conference, under one
**primary** issue of the cause — its symptoms point at it
(``Issue.cause``), it carries the worst severity among them and says who
was affected and who is the likely cause, with the evidence — while the
detectors' issues stay as they are (the raw view).

Attribution of packet loss (the open ``high_packet_loss`` issues of the
conference, as (receiver, sender) pairs of its open connections):

* **uplink of A** (``uplink_loss``): every receiver of A's media (at least
  two) sees loss on it, and A's own remote-inbound reports agree (the loss
  its receivers report back to it, as ``TrackMetric`` outbound
  ``loss_pct``); when they do not (A's reports, from a relay/SFU, show no
  loss), it is after the relay: ``relay_loss``;
* **downlink of B** (``downlink_loss``): B sees loss from every sender (at
  least two, or one — an SFU — whose other receivers see none), which the
  other receivers of those senders do not;
* **everyone** (``path_loss``, subject the conference): every pair sees
  loss — the relay/SFU or the path they share;
* what is left — one sender to one receiver — ``path_loss`` of that pair
  (in a two-party call, A's uplink and B's downlink cannot be told apart).

And a sender's media that stopped (``sender_media_stopped``): every
receiver (at least two) of A's audio or video has ``dry_inbound_track`` on
it; A's own ``dry_outbound_track`` of that kind is a symptom too.

:func:`conference_diagnose` runs when a symptom's issue changes (rarely:
never in a steady sample) and returns what it changed, as plain values,
for the caller to pass on (webhooks). A diagnosis that the next evidence
replaces (one receiver's loss first looks like a path, then every
receiver's shows the sender's uplink) is withdrawn: deleted, its symptoms
linked to the new one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg

from api.calls.models import Connection, Participant
from api.common.time import iso
from api.quality.conf import rule_settings
from api.quality.models import Issue, TrackMetric

# What packet loss on a stream causes at its receiver.
LOSS_SYMPTOMS = frozenset(
    {
        "high_packet_loss",
        "audio_concealment",
        "low_emos",
        "very_low_emos",
        "video_freeze",
        "low_frame_rate",
        "keyframe_storm",
    }
)
DRY_SYMPTOMS = frozenset({"dry_inbound_track", "dry_outbound_track"})
SYMPTOM_CODES = LOSS_SYMPTOMS | DRY_SYMPTOMS
CAUSE_CODES = frozenset(
    {"uplink_loss", "downlink_loss", "path_loss", "relay_loss", "sender_media_stopped"}
)

# How far back the sender's remote-inbound reports are read.
REMOTE_WINDOW = timedelta(seconds=60)

_SEVERITY_ORDER = {"warning": 0, "error": 1}


@dataclass(frozen=True)
class IssueChange:
    """An issue written by quality, as a plain value (for webhooks)."""

    action: str  # raised, resolved, escalated, peak, withdrawn, linked
    code: str
    subject: str
    at: datetime
    conference_id: Any = None
    severity: str | None = None
    issue_id: Any = None
    data: dict | None = None


@dataclass
class _Cause:
    code: str
    subject: str
    culprit: Any  # the participant whose network (or media) it was, or None
    pairs: set[tuple[Any, Any]]  # (receiver, sender)
    kind: str | None = None  # sender_media_stopped: the media kind
    evidence: dict[str, Any] = field(default_factory=dict)
    symptoms: list[dict] = field(default_factory=list)


def _pct(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _names(ids: list[Any], names: dict[Any, str]) -> str:
    labels = sorted(names.get(i, "?") for i in ids)
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def conference_diagnose(*, conference_id: Any, at: datetime) -> list[IssueChange]:
    """Group the conference's open symptoms under their causes (see the
    module docstring) and write the primary issues. Returns the changes.

    A primary issue keeps its open symptoms while they last (a cause does
    not change its mind as its symptoms resolve one by one); it is
    withdrawn only when a new diagnosis explains strictly more (one
    receiver's loss, then every receiver's), and resolved when its last
    symptom is, at that symptom's end."""
    symptoms: list[dict[str, Any]] = [
        dict(row)
        for row in Issue.objects.filter(
            conference_id=conference_id, resolved_at__isnull=True, code__in=SYMPTOM_CODES
        ).values(
            "pk",
            "code",
            "type",
            "participant_id",
            "connection_id",
            "peak_value",
            "created_at",
            "cause_id",
            "data",
            "app_id",
        )
    ]
    primaries = {
        issue.pk: issue
        for issue in Issue.objects.filter(
            conference_id=conference_id, resolved_at__isnull=True, code__in=CAUSE_CODES
        )
    }
    if not symptoms and not primaries:
        return []
    connections = {
        pk: (participant, peer)
        for pk, participant, peer, ended in Connection.objects.filter(
            conference_id=conference_id
        ).values_list("pk", "participant_id", "peer_id", "end_time")
        if ended is None or any(s["connection_id"] == pk for s in symptoms)
    }
    by_pair = _by_pair(symptoms, connections)
    computed = _causes(by_pair, connections, conference_id=conference_id, at=at)
    changes: list[IssueChange] = []
    kept: list[_Cause] = []
    reserved: set = set()
    for issue in primaries.values():
        held = {
            connections[s["connection_id"]]
            for s in symptoms
            if s["cause_id"] == issue.pk and s["connection_id"] in connections
        }
        better = (
            [
                c
                for c in computed
                if c.subject != issue.subject
                and c.code != "sender_media_stopped"
                and c.pairs > held
            ]
            if issue.code != "sender_media_stopped"
            else []
        )
        if held and not better:
            cause = _Cause(issue.code, issue.subject, issue.participant_id, held)
            cause.kind = (issue.data or {}).get("kinds", [None])[0] if issue.data else None
            kept.append(cause)
            reserved |= {(issue.code == "sender_media_stopped", pair) for pair in held}
            continue
        linked = Issue.objects.filter(cause_id=issue.pk)
        if held:
            # A better diagnosis explains its symptoms: withdrawn.
            linked.update(cause=None)
            issue.delete()
            changes.append(
                IssueChange(
                    "withdrawn", issue.code, issue.subject, at, conference_id, issue_id=issue.pk
                )
            )
        else:
            last = (
                linked.filter(resolved_at__isnull=False)
                .order_by("-resolved_at")
                .values_list("resolved_at", flat=True)
                .first()
            )
            resolved_at = max(last or at, issue.created_at)
            Issue.objects.filter(pk=issue.pk).update(resolved_at=resolved_at)
            changes.append(
                IssueChange(
                    "resolved",
                    issue.code,
                    issue.subject,
                    resolved_at,
                    conference_id,
                    issue_id=issue.pk,
                )
            )
    kept_subjects = {c.subject for c in kept}
    fresh = []
    for cause in computed:
        if cause.subject in kept_subjects:
            continue
        dry = cause.code == "sender_media_stopped"
        cause.pairs = {pair for pair in cause.pairs if (dry, pair) not in reserved}
        if cause.pairs:
            fresh.append(cause)
    causes = [c for c in (_attach(c, by_pair) for c in kept + fresh) if c.symptoms]
    if causes:
        names = _participant_names({p for pair in connections.values() for p in pair})
        app_id = symptoms[0]["app_id"]
        existing = {issue.subject: issue for issue in primaries.values()}
        for cause in causes:
            changes += _cause_write(
                cause,
                existing.get(cause.subject),
                names=names,
                app_id=app_id,
                conference_id=conference_id,
                at=at,
            )
    return changes


def _participant_names(ids: set[Any]) -> dict[Any, str]:
    return {
        pk: name or external
        for pk, name, external in Participant.objects.filter(pk__in=ids).values_list(
            "pk", "participant_name", "participant_id"
        )
    }


def _by_pair(
    symptoms: list[dict], connections: dict[Any, tuple[Any, Any]]
) -> dict[tuple[Any, Any], list[dict]]:
    """Open symptoms by the (receiver, sender) of their connection."""
    by_pair: dict[tuple[Any, Any], list[dict]] = defaultdict(list)
    for issue in symptoms:
        pair = connections.get(issue["connection_id"])
        if pair is not None:
            by_pair[pair].append(issue)
    return by_pair


def _causes(
    by_pair: dict[tuple[Any, Any], list[dict]],
    connections: dict[Any, tuple[Any, Any]],
    *,
    conference_id: Any,
    at: datetime,
) -> list[_Cause]:
    pairs = {(p, peer) for p, peer in connections.values() if p != peer}
    receivers: dict[Any, set] = defaultdict(set)
    senders: dict[Any, set] = defaultdict(set)
    for r, s in pairs:
        receivers[s].add(r)
        senders[r].add(s)
    lossy = {
        pair
        for pair, issues in by_pair.items()
        if any(i["code"] == "high_packet_loss" for i in issues)
    }
    causes: list[_Cause] = []
    if lossy:
        causes += _loss_causes(lossy, pairs, receivers, senders, conference_id=conference_id, at=at)
    causes += _dry_causes(by_pair, receivers, conference_id=conference_id)
    return causes


def _attach(cause: _Cause, by_pair: dict[tuple[Any, Any], list[dict]]) -> _Cause:
    """The cause's symptoms and its loss evidence, from its pairs."""
    if cause.code == "sender_media_stopped":
        if not cause.symptoms:
            cause.symptoms = _dry_symptoms(by_pair, cause.pairs, cause.culprit, cause.kind)
        return cause
    cause.symptoms = [
        i for pair in cause.pairs for i in by_pair.get(pair, []) if i["code"] in LOSS_SYMPTOMS
    ]
    losses = [
        i["peak_value"]
        for pair in cause.pairs
        for i in by_pair.get(pair, [])
        if i["code"] == "high_packet_loss" and i["peak_value"] is not None
    ]
    cause.evidence["loss_pct"] = round(max(losses), 1) if losses else None
    cause.evidence["pairs"] = sorted(
        (
            {
                "receiver": str(r),
                "sender": str(s),
                "loss_pct": max(
                    (
                        i["peak_value"] or 0.0
                        for i in by_pair.get((r, s), [])
                        if i["code"] == "high_packet_loss"
                    ),
                    default=None,
                ),
            }
            for r, s in cause.pairs
        ),
        key=lambda e: (e["sender"], e["receiver"]),
    )
    return cause


def _loss_causes(
    lossy: set,
    pairs: set,
    receivers: dict[Any, set],
    senders: dict[Any, set],
    *,
    conference_id: Any,
    at: datetime,
) -> list[_Cause]:
    if len({r for r, _ in pairs}) >= 2 and len(pairs) >= 2 and lossy >= pairs:
        return [_Cause("path_loss", f"cause:path@{conference_id}", None, set(lossy))]
    causes: list[_Cause] = []
    explained: set = set()
    remote = _remote_inbound_loss(
        [s for s in receivers if len(receivers[s]) >= 2], conference_id=conference_id, at=at
    )
    clear_at = float(rule_settings("high_packet_loss").get("clear", 1.0))
    for sender, its_receivers in receivers.items():
        mine = {(r, sender) for r in its_receivers}
        if len(its_receivers) >= 2 and mine <= lossy:
            reported = remote.get(sender)
            cause = _Cause("uplink_loss", f"cause:uplink:{sender}@{conference_id}", sender, mine)
            if reported is not None and reported <= clear_at:
                cause = _Cause("relay_loss", f"cause:relay:{sender}@{conference_id}", sender, mine)
            cause.evidence["sender_remote_inbound_loss_pct"] = (
                round(reported, 2) if reported is not None else None
            )
            causes.append(cause)
            explained |= mine
    for receiver, its_senders in senders.items():
        mine = {(receiver, s) for s in its_senders} - explained
        # Loss from every sender; and more than one sender, or a sender
        # whose other receivers get its media well (an SFU: one sender).
        others_fine = any(
            (r, s) not in lossy for s in its_senders for r in receivers[s] if r != receiver
        )
        if (
            (len(its_senders) >= 2 or others_fine)
            and {(receiver, s) for s in its_senders} <= lossy
            and mine
        ):
            causes.append(
                _Cause(
                    "downlink_loss", f"cause:downlink:{receiver}@{conference_id}", receiver, mine
                )
            )
            explained |= mine
    for receiver, sender in sorted(lossy - explained, key=str):
        causes.append(
            _Cause(
                "path_loss",
                f"cause:path:{sender}>{receiver}@{conference_id}",
                None,
                {(receiver, sender)},
                evidence={"from": str(sender), "to": str(receiver)},
            )
        )
    return causes


def _remote_inbound_loss(
    participants: list[Any], *, conference_id: Any, at: datetime
) -> dict[Any, float]:
    """Per participant: the mean loss its receivers reported back to it
    (remote-inbound ``fractionLost``) over the last minute."""
    if not participants:
        return {}
    rows = (
        TrackMetric.objects.filter(
            connection__conference_id=conference_id,
            connection__participant_id__in=participants,
            direction="outbound",
            created_at__gte=at - REMOTE_WINDOW,
            created_at__lte=at,
            loss_pct__isnull=False,
        )
        .values("connection__participant_id")
        .annotate(loss=Avg("loss_pct"))
    )
    return {row["connection__participant_id"]: row["loss"] for row in rows}


def _dry_causes(
    by_pair: dict[tuple[Any, Any], list[dict]], receivers: dict[Any, set], *, conference_id: Any
) -> list[_Cause]:
    causes = []
    for sender, its_receivers in receivers.items():
        if len(its_receivers) < 2:
            continue
        for kind in ("audio", "video"):
            dry = {
                r: [
                    i
                    for i in by_pair.get((r, sender), [])
                    if i["code"] == "dry_inbound_track" and (i["data"] or {}).get("kind") == kind
                ]
                for r in its_receivers
            }
            if not all(dry.values()):
                continue
            cause = _Cause(
                "sender_media_stopped",
                f"cause:stopped:{kind}:{sender}@{conference_id}",
                sender,
                {(r, sender) for r in its_receivers},
                kind=kind,
            )
            cause.symptoms = _dry_symptoms(by_pair, cause.pairs, sender, kind)
            causes.append(cause)
    return causes


def _dry_symptoms(
    by_pair: dict[tuple[Any, Any], list[dict]], pairs: set, sender: Any, kind: str | None
) -> list[dict]:
    """The receivers' dry incoming tracks of ``kind`` on ``pairs``, and the
    sender's own dry outgoing ones."""

    def of_kind(issue: dict, code: str) -> bool:
        return issue["code"] == code and (issue["data"] or {}).get("kind") == kind

    found = [i for pair in pairs for i in by_pair.get(pair, []) if of_kind(i, "dry_inbound_track")]
    for (participant, _peer), issues in by_pair.items():
        if participant == sender:
            found += [i for i in issues if of_kind(i, "dry_outbound_track")]
    return found


def _summary(cause: _Cause, names: dict[Any, str]) -> tuple[str, str]:
    """(what the cause was, the likely path) in words."""
    loss = cause.evidence.get("loss_pct")
    culprit = names.get(cause.culprit, "?")
    if cause.code == "uplink_loss":
        return f"{culprit}'s uplink lost {_pct(loss)} % of packets", "uplink"
    if cause.code == "downlink_loss":
        return f"{culprit}'s downlink lost {_pct(loss)} % of packets", "downlink"
    if cause.code == "relay_loss":
        return (
            f"{_pct(loss)} % of {culprit}'s packets were lost after the relay/SFU",
            "relay",
        )
    if cause.code == "sender_media_stopped":
        return f"{culprit}'s {cause.kind} stopped reaching the others", "sender"
    if len(cause.pairs) == 1 and not cause.subject.startswith("cause:path@"):
        ((receiver, sender),) = cause.pairs
        return (
            f"{_pct(loss)} % of packets from {names.get(sender, '?')} to "
            f"{names.get(receiver, '?')} were lost ({names.get(sender, '?')}'s uplink or "
            f"{names.get(receiver, '?')}'s downlink)",
            "path",
        )
    return (
        f"everyone lost packets ({_pct(loss)} %): the relay/SFU or the network path they share",
        "path",
    )


def _cause_write(
    cause: _Cause,
    existing: Issue | None,
    *,
    names: dict[Any, str],
    app_id: Any,
    conference_id: Any,
    at: datetime,
) -> list[IssueChange]:
    severity = max((i["type"] for i in cause.symptoms), key=lambda t: _SEVERITY_ORDER.get(t, 0))
    started = min(i["created_at"] for i in cause.symptoms)
    affected = sorted({r for r, _ in cause.pairs}, key=lambda p: names.get(p, ""))
    summary, path = _summary(cause, names)
    kinds = sorted(
        {
            str((i["data"] or {}).get("kind"))
            for i in cause.symptoms
            if (i["data"] or {}).get("kind")
        }
    )
    data: dict[str, Any] = {
        "cause": path,
        "summary": summary,
        "likely_cause": {
            "participant": str(cause.culprit) if cause.culprit else None,
            "name": names.get(cause.culprit) if cause.culprit else None,
            "path": path,
        },
        "affected": [{"participant": str(p), "name": names.get(p)} for p in affected],
        "kinds": kinds,
        "did": sorted({i["code"] for i in cause.symptoms}),
        "symptoms": len(cause.symptoms),
        "evidence": cause.evidence,
        "diagnosed_at": iso(at),
    }
    changes: list[IssueChange] = []

    def change(action: str, issue_id: Any, when: datetime, extra: dict | None = None) -> None:
        changes.append(
            IssueChange(
                action, cause.code, cause.subject, when, conference_id, severity, issue_id, extra
            )
        )

    if existing is not None and isinstance(existing.data, dict):
        # What an earlier run measured and this one did not (the sender's
        # remote-inbound reports) stays.
        data["evidence"] = {**(existing.data.get("evidence") or {}), **cause.evidence}
        # Who it affected, and what it did, while it lasted (not only now:
        # its symptoms resolve one by one).
        seen = {a["participant"] for a in data["affected"]}
        data["affected"] += [
            a for a in existing.data.get("affected") or [] if a.get("participant") not in seen
        ]
        data["affected"].sort(key=lambda a: a.get("name") or "")
        data["did"] = sorted(set(data["did"]) | set(existing.data.get("did") or []))
        data["kinds"] = sorted(set(data["kinds"]) | set(existing.data.get("kinds") or []))
    if existing is None:
        Issue.objects.bulk_create(
            [
                Issue(
                    app_id=app_id,
                    conference_id=conference_id,
                    participant_id=cause.culprit,
                    code=cause.code,
                    type=severity,
                    subject=cause.subject,
                    data=data,
                    peak_value=cause.evidence.get("loss_pct"),
                    created_at=started,
                )
            ],
            ignore_conflicts=True,
        )
        existing = Issue.objects.filter(
            code=cause.code, subject=cause.subject, resolved_at__isnull=True
        ).first()
        if existing is None:
            return []
        change("raised", existing.pk, started, data)
    else:
        if _SEVERITY_ORDER.get(severity, 0) > _SEVERITY_ORDER.get(existing.type, 0):
            change("escalated", existing.pk, at)
        else:
            severity = existing.type  # never lowered while it lasts
        Issue.objects.filter(pk=existing.pk).update(
            type=severity,
            data=data,
            peak_value=cause.evidence.get("loss_pct"),
            created_at=min(started, existing.created_at),
        )
    unlinked = [i["pk"] for i in cause.symptoms if i["cause_id"] != existing.pk]
    if unlinked:
        Issue.objects.filter(pk__in=unlinked).update(cause_id=existing.pk)
        change("linked", existing.pk, at, {"symptoms": [str(pk) for pk in unlinked]})
    return changes
