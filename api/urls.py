from django.contrib import admin
from django.urls import include, path

from api.common import views as common_views
from api.dashboard import views as dashboard_views
from api.ingest.urls import patterns as sdk_patterns

urlpatterns = [
    # The dashboard: the app last looked at, or the login page.
    path("", dashboard_views.home, name="home"),
    path("", include("api.dashboard.urls")),
    path("admin/", admin.site.urls),
    path("health", common_views.health, name="health"),
    path("ready", common_views.ready, name="ready"),
    path("metrics", common_views.metrics_view, name="metrics"),
    *sdk_patterns("v1/"),
    *sdk_patterns(""),
    # The dashboard/query API, under /v1/ and without prefix. After the SDK
    # routes: those take POST/PUT and hand other methods to these.
    path("", include("api.query_urls")),
]

handler404 = "api.common.views.not_found"
handler500 = "api.common.views.server_error"
handler400 = "api.common.views.bad_request"
handler403 = "api.common.views.permission_denied"
