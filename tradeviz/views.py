from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tradeviz.health import run_checks
from tradeviz.navigation import navigation


@login_required
def home(request: HttpRequest) -> HttpResponse:
    items = navigation(request)["nav_items"]
    first_page = next((item["url"] for item in items if item["url"] != request.path), None)
    return redirect(first_page or "ops")


@login_required
def ops(request: HttpRequest) -> HttpResponse:
    healthy, checks = run_checks()
    return render(request, "ops.html", {"healthy": healthy, "checks": checks})
