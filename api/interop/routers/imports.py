"""``POST /v1/apps/{app_id}/imports``: a browser dump uploaded (multipart,
field ``file``) becomes a conference of the app (api.interop.importer)."""

from __future__ import annotations

import uuid

from ninja import Router, Status

from api.common.errors import ApiError
from api.interop.dumps import DumpError
from api.interop.importer import dump_import, upload_read
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.schemas import ErrorOut, Out, data_of
from api.tenancy.models import Membership
from api.tenancy.selectors import app_get_for

router = Router(tags=["interop"])


class ImportOut(Out):
    conference: uuid.UUID
    format: str
    participants: int
    connections: int
    samples: int
    events: int
    issues: int
    seconds: float
    stats_truncated: bool


ImportData = data_of(ImportOut, "ImportData")


# The file is read by the view, after the caller's role is checked.
_MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


@router.post(
    "/apps/{app_id}/imports",
    response={201: ImportData, **ERRORS, 413: ErrorOut, 415: ErrorOut},
    openapi_extra=_MULTIPART,
)
def dump_upload(request: AuthedRequest, app_id: uuid.UUID) -> Status:
    """Import a ``chrome://webrtc-internals`` dump (JSON, plain or gzip) or
    an rtcstats dump (format 3, gzip) as a new conference of the app: the
    same metrics and issues as an SDK call. Multipart, the file in the
    field ``file``, at most ``IMPORT_MAX_BYTES``. Answers the new
    conference's id and what was imported. A file that is not a dump is a
    415 ``dump_unrecognised``; a truncated one a 400 ``dump_truncated``; a
    malformed one a 400 ``dump_invalid``; one too large a 413
    ``dump_too_large``. A refused dump stores nothing. Admins and owners."""
    app = app_get_for(user=request.auth, app_id=app_id, role=Membership.Role.ADMIN)
    file = request.FILES.get("file")
    if file is None:
        raise ApiError(
            "missing_parameters", "Upload the dump as the multipart/form-data field 'file'."
        )
    try:
        raw = upload_read(file)
        summary = dump_import(app=app, raw=raw, filename=file.name or "", user=request.auth)
    except DumpError as exc:
        raise ApiError(exc.code, exc.message) from exc
    return Status(201, {"data": summary.as_dict()})
