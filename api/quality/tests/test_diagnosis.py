"""One diagnosis per cause, and whose network it was: synthetic calls of
real SDK reports (bench/sdk_traffic.py, the captured Chrome report advanced
tick by tick) with loss on one sender's uplink, one receiver's downlink, or
everyone's path, sent through /v1/stats; then the verdict in words."""

from __future__ import annotations

import copy
import re

import pytest

from api.calls.models import Conference, Participant
from api.quality.models import Issue
from api.quality.verdicts import conference_verdict
from bench.sdk_traffic import (
    DOWNLINK,
    EVERYONE,
    UPLINK,
    MeshSynth,
    StatsSynth,
    Templates,
    mesh_losses,
)

pytestmark = pytest.mark.django_db

PEOPLE = ["alice", "bob", "carol"]


def _call(live, people):
    peers = {name: live.join(name) for name in people}
    links = {
        (me, other): peers[me].connect(other) for me in people for other in people if me != other
    }
    return peers, links


def _run(live, clock, people, losses, ticks, *, until=None, frozen=None, reported=None):
    """A full-mesh call of ``ticks`` samples per connection, 10 s apart:
    ``losses`` from the second tick on (until tick ``until``), ``frozen``
    (sender, kind) media from the third, ``reported``: what the senders'
    remote-inbound reports say instead of the loss."""
    peers, links = _call(live, people)
    mesh = MeshSynth(Templates(), people)
    for tick in range(ticks):
        clock.advance(10)
        impaired = 1 <= tick < (until or ticks)
        reports = mesh.tick(
            losses if impaired else {},
            frozen=frozenset(frozen or ()) if tick >= 2 else frozenset(),
            reported=reported if impaired else None,
        )
        for (me, other), report in reports.items():
            peers[me].stats(links[(me, other)], report)
    return peers, links


def _pid(name: str):
    return str(Participant.objects.get(participant_id=name).pk)


def primaries():
    return list(Issue.objects.filter(cause__isnull=True).order_by("created_at"))


@pytest.mark.parametrize(
    ("where", "who", "code", "culprit", "affected"),
    [
        (UPLINK, "alice", "uplink_loss", "alice", ["bob", "carol"]),
        (DOWNLINK, "carol", "downlink_loss", "carol", ["carol"]),
        (EVERYONE, None, "path_loss", None, PEOPLE),
    ],
    ids=["alice's uplink", "carol's downlink", "everyone"],
)
def test_three_party_loss_is_attributed_to_the_right_participant_and_path(
    live, clock, where, who, code, culprit, affected
):
    # Given a three-party mesh call with 6 % loss on one path for 60 s
    losses = mesh_losses(PEOPLE, where=where, who=who, loss=0.06)

    _run(live, clock, PEOPLE, losses, ticks=7)

    # Then one diagnosis names the cause, who is affected and the evidence
    [cause] = [i for i in primaries() if i.code.endswith("_loss")]
    assert cause.code == code
    assert cause.resolved_at is None
    likely = cause.data["likely_cause"]
    assert likely["participant"] == (_pid(culprit) if culprit else None)
    assert likely["path"] == {"uplink_loss": "uplink", "downlink_loss": "downlink"}.get(
        code, "path"
    )
    assert sorted(a["name"] for a in cause.data["affected"]) == affected
    pairs = cause.data["evidence"]["pairs"]
    assert pairs and all(5.0 <= p["loss_pct"] <= 7.0 for p in pairs)
    assert 5.0 <= cause.data["evidence"]["loss_pct"] <= 7.0
    if code == "uplink_loss":
        # Alice's own remote-inbound reports agree
        assert cause.data["evidence"]["sender_remote_inbound_loss_pct"] > 3.0
    # And every loss issue is a symptom of it, nothing is left unexplained
    loss_issues = Issue.objects.filter(code="high_packet_loss")
    assert loss_issues.exists() and all(i.cause_id == cause.pk for i in loss_issues)
    assert [i.code for i in primaries()] == [code]


def test_a_five_percent_loss_two_party_call_is_one_primary_issue_with_its_symptoms_linked(
    live, clock
):
    # Given a two-party call with 5 % random loss both ways for 90 s
    people = ["alice", "bob"]
    _run(live, clock, people, mesh_losses(people, where=EVERYONE, loss=0.05), ticks=10)

    # Then one primary issue, the cause; the detectors' issues (loss on
    # audio and video, concealment, low MOS, at both receivers) are its
    # symptoms; it has the worst severity among them
    [cause] = primaries()
    assert cause.code == "path_loss"
    symptoms = list(cause.symptoms.all())
    codes = {s.code for s in symptoms}
    assert "high_packet_loss" in codes and len(symptoms) >= 4
    assert codes <= {"high_packet_loss", "audio_concealment", "low_emos", "very_low_emos"}
    assert Issue.objects.count() == len(symptoms) + 1
    worst = "error" if any(s.type == "error" for s in symptoms) else "warning"
    assert cause.type == worst
    # 5 % random loss is a warning-level condition, not an error-level score
    assert not Issue.objects.filter(code="very_low_emos").exists()
    assert set(cause.data["did"]) == codes
    assert cause.data["summary"].startswith("everyone lost packets (5 %)")


def test_the_verdict_says_who_had_poor_media_how_long_and_why(live, clock):
    _run(live, clock, PEOPLE, mesh_losses(PEOPLE, where=UPLINK, who="alice", loss=0.09), ticks=7)

    verdict = conference_verdict(Issue.objects.first().conference_id)

    assert verdict["level"] in {"fair", "poor"}
    text = verdict["text"]
    assert "for bob and carol for " in text
    assert re.search(r"for \d+ s: alice's uplink lost 9(\.\d)? % of packets$", text), text
    by_name = {p["name"]: p for p in verdict["participants"]}
    assert by_name["bob"]["level"] == by_name["carol"]["level"] == verdict["level"]
    assert by_name["alice"]["level"] == "good"
    assert "alice's uplink" in by_name["alice"]["text"]


def test_a_clean_call_is_a_good_call(live, clock):
    _run(live, clock, PEOPLE, {}, ticks=4)

    verdict = conference_verdict(Conference.objects.get().pk)

    assert (verdict["level"], verdict["text"], verdict["causes"]) == ("good", "Good call", [])
    assert sorted((p["name"], p["level"], p["text"]) for p in verdict["participants"]) == [
        (name, "good", "Good") for name in PEOPLE
    ]


def test_when_the_loss_stops_the_cause_resolves_with_its_symptoms(live, clock):
    lossy = mesh_losses(PEOPLE, where=UPLINK, who="alice", loss=0.06)
    _run(live, clock, PEOPLE, lossy, ticks=10, until=6)

    [cause] = [i for i in Issue.objects.filter(code="uplink_loss")]
    assert cause.resolved_at is not None
    assert all(s.resolved_at is not None for s in cause.symptoms.all())
    assert cause.resolved_at == max(s.resolved_at for s in cause.symptoms.all())


def test_the_conference_api_serves_the_verdict_and_each_issue_names_its_cause(live, clock, app):
    from api.query.tests.conftest import ApiClient
    from api.tenancy.models import Membership, User

    _run(live, clock, PEOPLE, mesh_losses(PEOPLE, where=UPLINK, who="alice", loss=0.09), ticks=7)
    viewer = User.objects.create_user(username="viewer", password="x" * 12)
    Membership.objects.create(user=viewer, organization=app.organization)
    api = ApiClient(viewer)
    conference = Conference.objects.get()

    answer = api.get(f"/v1/conferences/{conference.pk}")

    assert answer.status == 200, answer
    verdict = answer.data["verdict"]
    assert re.search(
        r"^Poor audio and video for bob and carol for \d+ s: alice's uplink", verdict["text"]
    )
    [cause] = verdict["causes"]
    assert cause["code"] == "uplink_loss" and cause["likely_cause"]["name"] == "alice"
    assert sorted(cause["affected"]) == sorted([_pid("bob"), _pid("carol")])
    # every loss issue of the call points at it
    issues = api.get("/v1/issues", conferenceId=str(conference.pk)).data
    by_code = {}
    for issue in issues:
        by_code.setdefault(issue["code"], []).append(issue)
    assert [i["cause"] for i in by_code["uplink_loss"]] == [None]
    assert {i["cause"] for i in by_code["high_packet_loss"]} == {cause["issue"]}
    # and the quality summary says the cause and what it did
    summary = api.get(f"/v1/conferences/{conference.pk}/quality").data
    [said] = summary["issues"]["causes"]
    assert said["code"] == "uplink_loss" and "high_packet_loss" in said["did"]
    assert summary["network"]["loss_pct"]["share_above"] > 0


def test_a_frozen_sender_is_one_diagnosis_with_every_receivers_dry_track_linked(live, clock):
    # Given a three-party call in which alice's video stops flowing (she did
    # not stop or mute it: no event says so) after 20 s
    _run(live, clock, PEOPLE, {}, ticks=6, frozen={("alice", "video")})

    # Then one diagnosis: alice's video stopped reaching the others; bob's
    # and carol's dry incoming tracks and alice's dry outgoing ones are its
    # symptoms
    [cause] = primaries()
    assert cause.code == "sender_media_stopped"
    assert cause.data["likely_cause"]["name"] == "alice"
    assert sorted(a["name"] for a in cause.data["affected"]) == ["bob", "carol"]
    symptoms = sorted((s.code, s.participant.participant_id) for s in cause.symptoms.all())
    assert ("dry_inbound_track", "bob") in symptoms and ("dry_inbound_track", "carol") in symptoms
    assert ("dry_outbound_track", "alice") in symptoms
    assert all(code != "dry_inbound_track" or who != "alice" for code, who in symptoms)
    assert Issue.objects.filter(cause__isnull=True).count() == 1
    assert "alice's video stopped reaching the others" in cause.data["summary"]


def test_through_an_sfu_one_receivers_loss_is_its_downlink(live, clock):
    # Given three participants each connected to an SFU only; carol's
    # connection loses 6 % of what the SFU sends her, the others nothing
    templates = Templates()
    peers = {name: live.join(name) for name in PEOPLE}
    links = {name: peers[name].connect("sfu") for name in PEOPLE}
    synths = {name: StatsSynth(templates, interval_s=10) for name in PEOPLE}
    for tick in range(7):
        clock.advance(10)
        for name in PEOPLE:
            loss = 0.06 if name == "carol" and tick >= 1 else 0.0
            peers[name].stats(links[name], copy.deepcopy(synths[name].next(loss=loss)))

    # Then it is carol's downlink, not the SFU's path to everyone
    [cause] = primaries()
    assert cause.code == "downlink_loss"
    assert cause.data["likely_cause"]["name"] == "carol"
    assert [a["name"] for a in cause.data["affected"]] == ["carol"]


def test_loss_that_the_senders_own_reports_do_not_show_is_after_the_relay(live, clock):
    # Given bob and carol lose 6 % of alice's media, while the receiver
    # reports alice gets back (from a relay in between) show no loss
    losses = mesh_losses(PEOPLE, where=UPLINK, who="alice", loss=0.06)
    _run(live, clock, PEOPLE, losses, ticks=7, reported={})

    # Then it is not alice's uplink but the relay or the paths after it
    [cause] = primaries()
    assert cause.code == "relay_loss"
    assert cause.data["likely_cause"] == {
        "participant": _pid("alice"),
        "name": "alice",
        "path": "relay",
    }
    assert cause.data["evidence"]["sender_remote_inbound_loss_pct"] == 0.0
    assert "lost after the relay/SFU" in cause.data["summary"]


def test_a_diagnosis_is_told_to_the_layers_above_like_any_issue(live, clock):
    from api.quality.signals import issue_changed

    heard = []

    def listen(sender, *, action, code, **kwargs):
        heard.append((action, code))

    issue_changed.connect(listen)
    try:
        lossy = mesh_losses(PEOPLE, where=UPLINK, who="alice", loss=0.06)
        _run(live, clock, PEOPLE, lossy, ticks=10, until=6)
    finally:
        issue_changed.disconnect(listen)

    assert ("raised", "uplink_loss") in heard and ("resolved", "uplink_loss") in heard
    assert heard.count(("raised", "uplink_loss")) == 1
