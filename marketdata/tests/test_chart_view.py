"""The chart page's server side: login, the default symbol, the assets it loads."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

VENDOR_SCRIPT = "vendor/lightweight-charts/dist/lightweight-charts.standalone.production.js"


@pytest.fixture
def signed_in(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client: Any) -> None:
    response = client.get("/chart/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/chart/"


@pytest.mark.django_db
def test_renders_the_configured_default_symbol(signed_in: Any, settings: Any) -> None:
    settings.CHART_DEFAULT_SYMBOL = "nse:nifty bank"

    response = signed_in.get(reverse("marketdata:chart"))

    assert response.status_code == 200
    assert response.context["default_symbol"] == "NSE:NIFTY BANK"
    content = response.content.decode()
    assert 'data-default-symbol="NSE:NIFTY BANK"' in content
    assert 'data-udf-url="/api/v1/udf"' in content
    assert f'src="/static/{VENDOR_SCRIPT}"' in content
    assert 'src="/static/js/chart.js"' in content
    assert [value for value, _, _ in response.context["resolutions"]] == [
        "1",
        "3",
        "5",
        "15",
        "30",
        "60",
        "240",
        "D",
        "W",
        "M",
    ]


@pytest.mark.django_db
def test_symbol_parameter_wins_and_is_normalised(signed_in: Any) -> None:
    response = signed_in.get("/chart/", {"symbol": "  nse:reliance "})

    assert response.context["default_symbol"] == "NSE:RELIANCE"


@pytest.mark.django_db
def test_symbol_parameter_is_escaped_and_bounded(signed_in: Any) -> None:
    response = signed_in.get("/chart/", {"symbol": '"><script>alert(1)</script>' + "X" * 500})

    content = response.content.decode()
    assert "<script>alert(1)" not in content.lower()
    assert len(response.context["default_symbol"]) <= len("NSE:") + 80


def test_lightweight_charts_comes_from_node_modules() -> None:
    found = finders.find(VENDOR_SCRIPT)

    assert found is not None, "run `npm ci` (make install): lightweight-charts is not installed"
    assert "node_modules" in str(found)


@pytest.mark.django_db
def test_without_a_configured_default_the_chart_opens_where_the_market_is_live(
    client: Any, user: Any, settings: Any
) -> None:
    from datetime import UTC, datetime
    from unittest import mock

    settings.CHART_DEFAULT_SYMBOL = ""
    client.force_login(user)
    # 10:00 IST on a Monday trading day, then 02:00 IST the same day.
    for now, expected in ((datetime(2026, 11, 23, 4, 30, tzinfo=UTC), "NSE:NIFTY 50"),
                          (datetime(2026, 11, 22, 20, 30, tzinfo=UTC), "SIM:SIMNIFTY")):
        with mock.patch("marketdata.views.timezone.now", return_value=now):
            body = client.get("/chart/").content.decode()
        assert f'data-default-symbol="{expected}"' in body
