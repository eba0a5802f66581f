"""The error catalogue: every ``error_code`` the server answers, with its
HTTP status and message. Codes and messages are the peermetrics ones, so the
SDK (which reads ``error_code`` to decide whether to retry) behaves the same."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    message: str


_CATALOGUE = [
    ErrorKind("missing_parameters", 400, "Some parameters are missing from the request."),
    ErrorKind("invalid_parameters", 400, "Some supplied parameters are not valid."),
    ErrorKind("invalid_json", 400, "The request body is not a JSON object."),
    ErrorKind("body_too_large", 413, "The request body is too large."),
    ErrorKind("missing_token", 401, "No token supplied."),
    ErrorKind("invalid_token", 401, "Invalid token."),
    ErrorKind("expired_token", 401, "Expired token."),
    ErrorKind("invalid_api_key", 400, "Invalid api key."),
    ErrorKind("app_not_recording", 400, "The requested app is not recording."),
    ErrorKind("domain_not_allowed", 403, "The app does not allow this domain."),
    ErrorKind("quota_exceeded", 429, "Quota exceeded."),
    ErrorKind("invalid_meta", 400, "Invalid meta."),
    ErrorKind("organization_not_found", 404, "The requested organization does not exist."),
    ErrorKind("app_not_found", 404, "The requested app does not exist."),
    ErrorKind("conference_not_found", 400, "The requested conference does not exist."),
    ErrorKind("participant_not_found", 400, "The requested participant does not exist."),
    ErrorKind(
        "participant_equal_peer", 400, "The participant and peer can't be the same for an event."
    ),
    ErrorKind("connection_not_found", 400, "The requested connection does not exist."),
    ErrorKind(
        "connection_ended",
        400,
        "This connection has ended and we are no longer listening for events.",
    ),
    ErrorKind("track_not_found", 400, "The requested track does not exist."),
    ErrorKind("issue_not_found", 404, "The requested issue does not exist."),
    ErrorKind("not_found", 404, "The requested resource does not exist."),
    ErrorKind("method_not_allowed", 405, "Method not allowed."),
    ErrorKind(
        "not_authenticated", 401, "Authentication credentials were not provided or are not valid."
    ),
    ErrorKind("permission_denied", 403, "You do not have permission to perform this action."),
    ErrorKind("csrf_failed", 403, "CSRF check failed: send the X-CSRFToken header."),
    ErrorKind("invalid_credentials", 401, "Invalid username or password."),
    ErrorKind("user_not_found", 404, "The requested user does not exist."),
    ErrorKind("user_already_member", 400, "The user is already a member of this organization."),
    ErrorKind("last_owner", 400, "An organization must keep at least one owner."),
    ErrorKind("rate_limited", 429, "Too many requests."),
    ErrorKind("dump_unrecognised", 415, "The file is not a webrtc-internals or rtcstats dump."),
    ErrorKind("dump_invalid", 400, "The dump is malformed."),
    ErrorKind("dump_truncated", 400, "The dump is truncated."),
    ErrorKind("dump_too_large", 413, "The dump is too large."),
    ErrorKind("invalid_webhook_url", 400, "The webhook URL is not allowed."),
    ErrorKind("server_error", 500, "The server could not process the request."),
    ErrorKind("service_unavailable", 503, "The service is unavailable; retry later."),
]

CATALOGUE: dict[str, ErrorKind] = {kind.code: kind for kind in _CATALOGUE}


class ApiError(Exception):
    """Raised anywhere below a view; turned into the JSON error body
    ``{"error_code", "message"}`` with the catalogue's status."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        retry_after: int | None = None,
    ):
        kind = CATALOGUE[code]
        self.code = code
        self.status = status or kind.status
        self.message = message or kind.message
        # Seconds, for the ``Retry-After`` header of a 429 or 503.
        self.retry_after = retry_after
        super().__init__(f"{code}: {self.message}")

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "message": self.message}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, self.retry_after))} if self.retry_after else {}
