"""The dashboard's pages, at the root of the site. Singular path names
(``/conference/<id>``) so that they never meet the query API's plural
collections, which are served without prefix too."""

from django.urls import path

from api.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("password", views.password_change, name="password"),
    path("password/done", views.password_done, name="password_done"),
    path("switch", views.switch, name="switch"),
    path("app/<uuid:app_id>", views.overview, name="overview"),
    path("app/<uuid:app_id>/calls", views.calls, name="calls"),
    path("app/<uuid:app_id>/issues", views.issues, name="issues"),
    path("app/<uuid:app_id>/settings", views.app_settings, name="settings"),
    path("app/<uuid:app_id>/settings/rotate-key", views.app_rotate, name="rotate"),
    path("conference/<uuid:conference_id>", views.call, name="call"),
    path("conference/<uuid:conference_id>/data", views.call_data, name="call_data"),
    path("conference/<uuid:conference_id>/events", views.call_events, name="call_events"),
    path("participant/<uuid:participant_id>", views.participant, name="participant"),
    path("organization/<uuid:organization_id>", views.members, name="members"),
    path("account/tokens", views.tokens, name="tokens"),
]
