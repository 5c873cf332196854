"""Calendar APIs: holidays of a year and the sessions of a date range (reference data, any user)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata.calendar import (
    CALENDAR_OF_EXCHANGE,
    DEFAULT_EXCHANGE,
    calendar_exchange,
    describe_day,
    holidays_in_year,
    market_date,
    special_sessions_in_year,
)
from tradeviz.errors import InvalidInput

MIN_YEAR = 1990
MAX_YEAR = 2100
MAX_SESSION_RANGE_DAYS = 366
DEFAULT_SESSION_RANGE_DAYS = 6


def _today() -> Any:
    from django.utils import timezone

    return market_date(timezone.now())


def _validated(serializer: serializers.Serializer) -> dict[str, Any]:  # type: ignore[type-arg]
    if not serializer.is_valid():
        raise InvalidInput("Invalid query parameters.", details=serializer.errors)
    return dict(serializer.validated_data)


class HolidayListApi(APIView):
    """Trading holidays and special sessions of one exchange and year (422 when the year has no data)."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        exchange = serializers.ChoiceField(choices=sorted(CALENDAR_OF_EXCHANGE), default=DEFAULT_EXCHANGE)
        year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR, required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter("exchange", str, description="NSE (default), NFO, BSE, BFO or SIM"),
            OpenApiParameter("year", int, description="Defaults to the current year (IST)"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        params = _validated(self.InputSerializer(data=request.query_params))
        exchange = calendar_exchange(params["exchange"])
        year = params.get("year") or _today().year
        holidays = holidays_in_year(exchange=exchange, year=year)
        sessions = special_sessions_in_year(exchange=exchange, year=year)
        return Response(
            {
                "exchange": exchange,
                "year": year,
                "holidays": [
                    {
                        "date": h.date.isoformat(),
                        "weekday": h.date.strftime("%A"),
                        "description": h.description,
                        "source": h.source,
                    }
                    for h in holidays
                ],
                "special_sessions": [
                    {
                        "date": s.date.isoformat(),
                        "open": s.open_time.strftime("%H:%M"),
                        "close": s.close_time.strftime("%H:%M"),
                        "timezone": "Asia/Kolkata",
                        "description": s.description,
                    }
                    for s in sessions
                ],
            }
        )


class SessionListApi(APIView):
    """Sessions (open/close in UTC) of the trading days in [from, to], at most 366 days."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        exchange = serializers.ChoiceField(choices=sorted(CALENDAR_OF_EXCHANGE), default=DEFAULT_EXCHANGE)
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            start = attrs.get("start") or _today()
            end = attrs.get("end") or start + timedelta(days=DEFAULT_SESSION_RANGE_DAYS)
            if end < start:
                raise serializers.ValidationError({"to": "must not be before from"})
            if (end - start).days + 1 > MAX_SESSION_RANGE_DAYS:
                raise serializers.ValidationError(
                    {"to": f"the range may span at most {MAX_SESSION_RANGE_DAYS} days"}
                )
            return {**attrs, "start": start, "end": end}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="ISO date, default today (IST)"),
            OpenApiParameter(
                "to", str, description="ISO date, default from + 6 days; at most 366 days in all"
            ),
            OpenApiParameter("exchange", str, description="NSE (default), NFO, BSE, BFO or SIM"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        query = request.query_params
        raw = {"exchange": query.get("exchange", DEFAULT_EXCHANGE)}
        # `from` is a Python keyword: the serializer reads it as `start`.
        for param, name in (("from", "start"), ("to", "end")):
            if param in query:
                raw[name] = query[param]
        serializer = self.InputSerializer(data=raw)
        if not serializer.is_valid():
            details = {{"start": "from", "end": "to"}.get(k, k): v for k, v in serializer.errors.items()}
            raise InvalidInput("Invalid query parameters.", details=details)
        params = serializer.validated_data
        exchange = calendar_exchange(params["exchange"])
        sessions = []
        day = params["start"]
        while day <= params["end"]:
            info = describe_day(day, exchange)
            if info.session is not None:
                sessions.append(
                    {
                        "date": day.isoformat(),
                        "open": info.session.open.isoformat().replace("+00:00", "Z"),
                        "close": info.session.close.isoformat().replace("+00:00", "Z"),
                        "minutes": int((info.session.close - info.session.open).total_seconds() // 60),
                        "kind": info.kind,
                        "description": info.description,
                    }
                )
            day += timedelta(days=1)
        return Response(
            {
                "exchange": exchange,
                "from": params["start"].isoformat(),
                "to": params["end"].isoformat(),
                "sessions": sessions,
            }
        )
