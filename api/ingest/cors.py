"""CORS for the SDK routes.

The SDK runs on the customer's pages, so its routes answer any ``Origin``
(echoed back) for the methods the SDK uses, including the preflight of its
``PUT`` requests. Every other route (the query API, the dashboard) answers
only the origins in ``CORS_ALLOWED_ORIGINS``: a page elsewhere must never
read a dashboard answer. The SDK sends no credentials, so none are allowed.
"""

from __future__ import annotations

from corsheaders.signals import check_request_enabled
from django.dispatch import receiver
from django.http import HttpRequest

from api.ingest.urls import SDK_PATHS

_SDK_METHODS = {"POST", "PUT"}


def is_sdk_request(request: HttpRequest) -> bool:
    path = request.path_info
    if path.startswith("/v1/"):
        path = path[3:]
    if path not in SDK_PATHS:
        return False
    method = request.method
    if method == "OPTIONS":
        method = request.headers.get("Access-Control-Request-Method", "").upper()
    return method in _SDK_METHODS


@receiver(check_request_enabled)
def _sdk_routes_allow_any_origin(sender, request: HttpRequest, **kwargs) -> bool:
    return is_sdk_request(request)
