"""The dashboard's dump upload form: the upload API's service and rules
(admins and owners; the same error codes), with the real dumps of
fixtures/dumps; the body-size guard lets the form's large bodies through."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.calls.models import Conference
from api.interop.models import ImportedDump
from conftest import FIXTURES

DUMPS = FIXTURES / "dumps"
GOOD = "call2p-30s-loss10.webrtc_internals_dump.txt"


def _post(client, app, name: str, raw: bytes):
    return client.post(f"/app/{app.pk}/import", {"file": SimpleUploadedFile(name, raw)})


def _imported_nothing(acme) -> bool:
    return (
        Conference.objects.filter(app=acme.app).count() == 1 and not ImportedDump.objects.exists()
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "owner"])
def test_an_admin_uploads_a_real_dump_and_lands_on_the_new_call(
    acme, logged_in, role, django_capture_on_commit_callbacks
):
    client = logged_in(getattr(acme, role))
    raw = (DUMPS / GOOD).read_bytes()

    with django_capture_on_commit_callbacks(execute=True):
        answer = _post(client, acme.app, GOOD, raw)

    imported = Conference.objects.filter(app=acme.app).exclude(pk=acme.conference.pk).get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/conference/{imported.pk}"
    page = client.get(answer["Location"]).content.decode()
    assert "high_packet_loss" in page  # the 10 % loss, found as in an SDK call
    assert imported.participants.count() == 2


@pytest.mark.django_db
def test_a_truncated_dump_is_a_clear_error_and_stores_nothing(acme, logged_in):
    raw = (DUMPS / GOOD).read_bytes()

    answer = _post(logged_in(acme.admin), acme.app, GOOD, raw[: len(raw) * 2 // 3])

    assert answer.status_code == 400
    html = answer.content.decode()
    assert 'data-code="dump_truncated"' in html and "truncated" in html
    assert 'id="import-form"' in html  # the form again, to try another file
    assert _imported_nothing(acme)


@pytest.mark.django_db
def test_a_file_that_is_not_a_dump_is_unrecognised(acme, logged_in):
    answer = _post(logged_in(acme.admin), acme.app, "photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    assert answer.status_code == 415
    assert 'data-code="dump_unrecognised"' in answer.content.decode()
    assert _imported_nothing(acme)


@pytest.mark.django_db
def test_a_file_over_the_limit_is_a_clear_error(acme, logged_in, monkeypatch):
    monkeypatch.setattr("api.interop.importer.upload_max_bytes", lambda: 1000)

    answer = _post(logged_in(acme.admin), acme.app, GOOD, (DUMPS / GOOD).read_bytes())

    assert answer.status_code == 413
    html = answer.content.decode()
    assert 'data-code="dump_too_large"' in html and "larger than 1000 bytes" in html
    assert _imported_nothing(acme)


@pytest.mark.django_db
def test_the_body_guard_lets_the_form_take_more_than_the_api_body_limit(acme, logged_in, settings):
    big = b"x" * (settings.CONFIG.max_body_bytes + 100_000)
    client = logged_in(acme.admin)

    upload = _post(client, acme.app, "big.bin", big)
    elsewhere = client.post(f"/app/{acme.app.pk}/settings", {"file": SimpleUploadedFile("b", big)})

    # read by the form (and refused as no dump), where any other page's guard says 413
    assert upload.status_code == 415
    assert 'data-code="dump_unrecognised"' in upload.content.decode()
    assert elsewhere.status_code == 413
    assert elsewhere.json()["error_code"] == "body_too_large"


@pytest.mark.django_db
def test_a_member_sees_no_form_and_a_forged_upload_is_refused(acme, logged_in):
    client = logged_in(acme.member)

    page = client.get(f"/app/{acme.app.pk}/import")
    forged = _post(client, acme.app, GOOD, (DUMPS / GOOD).read_bytes())

    assert page.status_code == 200 and 'id="import-form"' not in page.content.decode()
    assert forged.status_code == 403
    assert _imported_nothing(acme)


@pytest.mark.django_db
def test_another_organization_gets_404(acme, globex, logged_in):
    client = logged_in(globex.owner)

    assert client.get(f"/app/{acme.app.pk}/import").status_code == 404
    assert _post(client, acme.app, GOOD, b"{}").status_code == 404
