from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from accounts import urls as accounts_urls
from accounts.apis import ApiKeyListCreateApi, ApiKeyRevokeApi, MeApi
from labels import urls as labels_urls
from marketdata import urls as marketdata_urls
from options import urls as options_urls
from strategies import urls as strategies_urls
from tradeviz import health, metrics_view, views

handler404 = "tradeviz.errors.handler404"
handler500 = "tradeviz.errors.handler500"

admin.site.site_header = "tradeviz administration"
admin.site.site_title = "tradeviz admin"
admin.site.index_title = "Strategies, accounts, market data and schedules"

api_v1 = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token_obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("auth/token/verify/", TokenVerifyView.as_view(), name="token_verify"),
    path("auth/me/", MeApi.as_view(), name="me"),
    path("auth/api-keys/", ApiKeyListCreateApi.as_view(), name="api_keys"),
    path("auth/api-keys/<int:key_id>/", ApiKeyRevokeApi.as_view(), name="api_key_revoke"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_v1:schema"), name="docs"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("ops/", views.ops, name="ops"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health_live"),
    path("health/ready", health.ready, name="health_ready"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("api/v1/", include((api_v1, "api_v1"))),
]

# Each app mounts its API under /api/v1/ (namespace "<app>_api") and its pages under / ("<app>").
for _name, _module in (
    ("marketdata", marketdata_urls),
    ("options", options_urls),
    ("strategies", strategies_urls),
    ("accounts", accounts_urls),
    ("labels", labels_urls),
):
    urlpatterns += [
        path("api/v1/", include((_module.api_patterns, f"{_name}_api"))),
        path("", include((_module.page_patterns, _name))),
    ]
