from django.urls import path

from api.ingest import views

# Path (without the /v1 prefix) → view. Served under /v1/ and, as the seed
# README's examples use them, without the prefix.
ROUTES = {
    "/initialize": views.initialize,
    "/sessions": views.sessions,
    "/events/get-user-media": views.events_get_user_media,
    "/events/browser": views.events_browser,
    "/connection": views.connection_event,
    "/connection/batch": views.connection_batch,
    "/stats": views.stats,
    "/tracks": views.tracks,
    "/services/get-url": views.services_get_url,
    "/services/stop-conference": views.services_stop_conference,
    "/bench/noop": views.noop,
}
SDK_PATHS = frozenset(ROUTES)


def patterns(prefix: str) -> list:
    return [
        path(
            f"{prefix}{route.lstrip('/')}",
            view,
            name=f"sdk-{prefix.strip('/') or 'root'}-{route.strip('/').replace('/', '-')}",
        )
        for route, view in ROUTES.items()
    ]
