"""Dump import: the real dumps of fixtures/dumps (two-tab Chromium calls,
clean, 10 % loss, 150 ms delay each way) through the upload API and the
command, analysed like SDK traffic; bad files refused, nothing stored."""

from __future__ import annotations

import gzip
import io

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import TestCase

from api.calls.models import Conference, Connection, Participant, Session, Track
from api.events.models import GenericEvent, StatsSample
from api.interop.models import ImportedDump
from api.interop.tests.conftest import DUMPS, upload
from api.quality.models import Issue, TrackMetric

FORMATS = {
    "internals": "call2p-30s-{}.webrtc_internals_dump.txt",
    "rtcstats": "call2p-30s-{}.rtcstats_dump.gz",
}
NETWORK_ISSUES = {"high_packet_loss", "high_jitter", "high_rtt", "one_way_media"}


def _dump(scenario: str, fmt: str) -> tuple[str, bytes]:
    name = FORMATS[fmt].format(scenario)
    return name, (DUMPS / name).read_bytes()


def _imported(owner, tenant, scenario: str, fmt: str) -> Conference:
    name, raw = _dump(scenario, fmt)
    # What ended with the call is announced after the import commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = upload(owner, tenant.app.pk, name, raw)
    assert answer.status == 201, answer
    return Conference.objects.get(pk=answer.data["conference"])


def _inbound_audio_loss_pct(conference: Conference) -> float:
    rows = TrackMetric.objects.filter(
        connection__conference=conference,
        kind="audio",
        direction="inbound",
        interval_s__isnull=False,
    ).aggregate(lost=Sum("packets_lost"), received=Sum("packets"))
    return 100.0 * rows["lost"] / (rows["lost"] + rows["received"])


def _nothing_stored() -> None:
    for model in (
        Conference,
        Participant,
        Session,
        Connection,
        Track,
        GenericEvent,
        StatsSample,
        TrackMetric,
        Issue,
        ImportedDump,
    ):
        assert not model.objects.exists(), model


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_loss_dump_reports_ten_percent_inbound_loss_and_raises_the_loss_issue(
    owner, tenant, fmt
):
    conference = _imported(owner, tenant, "loss10", fmt)

    # Two pages of one browser: two participants, one connection each way,
    # each the peer of the other.
    connections = list(Connection.objects.filter(conference=conference))
    assert len(connections) == 2
    assert {c.participant_id for c in connections} == {c.peer_id for c in connections}
    assert 8.0 <= _inbound_audio_loss_pct(conference) <= 12.0
    loss = Issue.objects.filter(conference=conference, code="high_packet_loss")
    assert loss.count() >= 2  # on each participant's incoming streams
    assert {i.participant_id for i in loss} == {c.participant_id for c in connections}
    # The call ended with the dump: every issue closed.
    assert not Issue.objects.filter(conference=conference, resolved_at__isnull=True).exists()
    conference.refresh_from_db()
    assert not conference.ongoing and conference.end_time is not None
    assert conference.imported_dump.format in {"webrtc-internals", "rtcstats"}


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_delay_dump_reports_a_round_trip_of_300_ms(owner, tenant, fmt):
    conference = _imported(owner, tenant, "delay150", fmt)

    rtts = sorted(
        TrackMetric.objects.filter(
            connection__conference=conference, rtt_ms__isnull=False
        ).values_list("rtt_ms", flat=True)
    )
    median = rtts[len(rtts) // 2]
    assert 270.0 <= median <= 330.0, rtts
    assert _inbound_audio_loss_pct(conference) < 1.0


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_clean_dump_raises_no_network_issue(owner, tenant, fmt):
    conference = _imported(owner, tenant, "clean", fmt)

    codes = set(Issue.objects.filter(conference=conference).values_list("code", flat=True))
    assert not codes & NETWORK_ISSUES, codes
    # Only the stopped camera (60 % into the call), which a dump cannot explain.
    assert codes <= {"dry_inbound_track", "dry_outbound_track"}, codes
    assert TrackMetric.objects.filter(connection__conference=conference).count() > 0
    assert _inbound_audio_loss_pct(conference) < 1.0


@pytest.mark.django_db
def test_both_formats_of_one_call_give_the_same_loss(owner, tenant):
    internals = _inbound_audio_loss_pct(_imported(owner, tenant, "loss10", "internals"))
    rtcstats = _inbound_audio_loss_pct(_imported(owner, tenant, "loss10", "rtcstats"))

    assert abs(internals - rtcstats) < 1.5


@pytest.mark.django_db
def test_an_import_keeps_tracks_events_and_samples_like_sdk_traffic(owner, tenant):
    conference = _imported(owner, tenant, "clean", "internals")

    assert Session.objects.filter(conference=conference).count() == 2
    # getUserMedia's local tracks, each connection's sent and received ones.
    assert (
        Track.objects.filter(session__conference=conference, connection__isnull=True).count() == 4
    )
    assert Track.objects.filter(connection__conference=conference, direction="inbound").count() == 4
    types = set(GenericEvent.objects.filter(conference=conference).values_list("type", flat=True))
    assert {
        "addConnection",
        "onconnectionstatechange",
        "onsignalingstatechange",
        "ontrack",
    } <= types
    assert set(Connection.objects.filter(conference=conference).values_list("type", flat=True)) == {
        "host"
    }
    # 30 s of one report a second, kept at the app's 10 s interval (and the last).
    samples = StatsSample.objects.filter(conference=conference).count()
    assert 6 <= samples <= 10
    assert StatsSample.objects.filter(conference=conference).first().data["audio"]["inbound"]


def _truncated(fmt: str) -> tuple[str, bytes]:
    name, raw = _dump("loss10", fmt)
    if fmt == "rtcstats":
        return name, raw[: len(raw) // 2]
    return name, raw[: len(raw) * 2 // 3]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_dump_is_refused_and_leaves_nothing(owner, tenant, fmt):
    name, raw = _truncated(fmt)

    answer = upload(owner, tenant.app.pk, name, raw)

    assert answer.status == 400, answer
    assert answer.json["error_code"] == "dump_truncated"
    assert "truncated" in answer.json["message"]
    _nothing_stored()


@pytest.mark.django_db
def test_an_rtcstats_dump_cut_at_a_line_says_which_line(owner, tenant):
    _, raw = _dump("loss10", "rtcstats")
    text = gzip.decompress(raw)
    cut = gzip.compress(text[: text.index(b"\n", len(text) // 2) + 40])

    answer = upload(owner, tenant.app.pk, "cut.gz", cut)

    assert (answer.status, answer.json["error_code"]) == (400, "dump_truncated")
    assert "Line " in answer.json["message"]
    _nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
        b"hello, this is a text file\n",
        b'{"requests": []}',
        gzip.compress(b"not a dump at all"),
    ],
    ids=["png", "text", "json-without-PeerConnections", "gzip-of-text"],
)
def test_a_file_that_is_not_a_dump_is_refused_and_leaves_nothing(owner, tenant, raw):
    answer = upload(owner, tenant.app.pk, "file.bin", raw)

    assert answer.status == 415, answer
    assert answer.json["error_code"] == "dump_unrecognised"
    _nothing_stored()


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_413(owner, tenant, monkeypatch):
    monkeypatch.setattr("api.interop.importer.upload_max_bytes", lambda: 1000)
    name, raw = _dump("clean", "rtcstats")

    answer = upload(owner, tenant.app.pk, name, raw)

    assert (answer.status, answer.json["error_code"]) == (413, "dump_too_large")
    _nothing_stored()


@pytest.mark.django_db
def test_a_gzip_bomb_stops_at_the_decompressed_limit(owner, tenant, settings):
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 100_000
    name, raw = _dump("clean", "rtcstats")  # 860 KB once decompressed

    answer = upload(owner, tenant.app.pk, name, raw)

    assert (answer.status, answer.json["error_code"]) == (413, "dump_too_large")
    _nothing_stored()


@pytest.mark.django_db
def test_a_failure_half_way_rolls_the_whole_import_back(owner, tenant, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("api.interop.importer.calls.conference_stop", broken)
    name, raw = _dump("loss10", "internals")

    answer = upload(owner, tenant.app.pk, name, raw)

    assert answer.status == 500
    _nothing_stored()


@pytest.mark.django_db
def test_only_admins_of_the_apps_organization_may_import(tenant):
    from api.query.tests.conftest import ApiClient
    from api.query.tests.factories import member_make
    from api.tenancy.models import Organization

    stranger = member_make(Organization.objects.create(name="Globex"), "owner")
    name, raw = _dump("clean", "rtcstats")

    answer = upload(ApiClient(stranger), tenant.app.pk, name, raw)

    assert (answer.status, answer.json["error_code"]) == (404, "not_found")
    assert upload(ApiClient(), tenant.app.pk, name, raw).status == 401
    member = upload(ApiClient(tenant.member), tenant.app.pk, name, raw)
    assert (member.status, member.json["error_code"]) == (403, "permission_denied")
    _nothing_stored()


@pytest.mark.django_db
def test_the_command_imports_several_files_and_prints_a_summary(tenant):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_dump",
        str(DUMPS / FORMATS["internals"].format("loss10")),
        str(DUMPS / FORMATS["rtcstats"].format("delay150")),
        app=str(tenant.app.pk),
        stdout=out,
        stderr=err,
    )

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "2 participants, 2 connections" in lines[0]
    assert "issues found" in lines[0] and " s" in lines[0]
    assert Conference.objects.count() == 2
    # The progress bar, on stderr, per file.
    assert "call2p-30s-loss10.webrtc_internals_dump.txt" in err.getvalue()
    assert "100%" in err.getvalue()


@pytest.mark.django_db
def test_the_command_reports_a_refused_file_and_fails(tenant, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    err = io.StringIO()

    with pytest.raises(Exception, match="1 of 1 files not imported"):
        call_command("import_dump", str(bad), app=str(tenant.app.pk), stderr=err, no_progress=True)

    assert "dump_unrecognised" in err.getvalue()
    _nothing_stored()


@pytest.mark.django_db
def test_imported_dumps_are_in_the_admin(admin_client, owner, tenant):
    from api.common.tests.admin_pages import admin_page_failures

    _imported(owner, tenant, "clean", "rtcstats")

    assert admin_page_failures(admin_client, ImportedDump) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"PeerConnections": {}}', "dump_invalid"),
        (b'{"PeerConnections": {"1-1": []}}', "dump_invalid"),
        (b'{"PeerConnections": {"1-1": {"updateLog": "x", "stats": {}}}}', "dump_invalid"),
        (
            b'{"PeerConnections": {"1-1": {"stats": {"a-b": {"values": "[1", "statsType": "x"}}}}}',
            "dump_invalid",
        ),
        (
            b'{"PeerConnections": {"1-1": {"stats": {"a-b": {"values": "[1]", "statsType": "ssrc"}}}}}',
            "dump_invalid",
        ),
        (b"RTCStatsDump\n", "dump_truncated"),
        (b'RTCStatsDump\n{"fileFormat": 2}\n["create", "1-1", {}, 1]\n', "dump_invalid"),
        (b'RTCStatsDump\n{"fileFormat": 3}\n"just a string"\n', "dump_invalid"),
        (b'RTCStatsDump\n{"fileFormat": 3}\n["getStats", "1-1", 7, 1]\n', "dump_invalid"),
        (b'RTCStatsDump\n{"fileFormat": 3}\n["getStats", "1-1", {}, "late"]\n', "dump_invalid"),
        (
            b'RTCStatsDump\n{"fileFormat": 3}\n["getStats", "1-1", {"T": {"type": "transport",'
            b' "selectedCandidatePairId": ["x"]}, "I": {"type": "inbound-rtp", "kind": "audio",'
            b' "codecId": {"a": 1}, "packetsReceived": "many"}}, 1]\n',
            None,
        ),
    ],
)
def test_malformed_dumps_are_a_4xx_never_a_500(owner, tenant, raw, code):
    answer = upload(owner, tenant.app.pk, "odd.txt", raw)

    if code is None:  # odd values inside reports are ignored, as the live path ignores them
        assert answer.status == 201, answer
        return
    assert (answer.status, answer.json["error_code"]) == (400, code), answer
    _nothing_stored()


@pytest.mark.django_db
def test_an_upload_without_the_file_field_is_missing_parameters(owner, tenant):
    answer = owner.post(f"/v1/apps/{tenant.app.pk}/imports", {"dump": "here"})

    assert (answer.status, answer.json["error_code"]) == (400, "missing_parameters")


@pytest.mark.django_db
def test_an_upload_larger_than_an_sdk_body_is_accepted(owner, tenant):
    # MAX_BODY_BYTES (1 MiB) bounds the SDK's bodies, not uploads.
    name, raw = _dump("loss10", "internals")
    padded = raw + b" " * (2 * 1_048_576)

    answer = upload(owner, tenant.app.pk, name, padded)

    assert answer.status == 201, answer
