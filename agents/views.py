"""The agent console's pages. Each checks the console permission and renders one template."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
@permission_required("agents.use_console", raise_exception=True)
def console(request: HttpRequest) -> HttpResponse:
    return render(request, "agents/console.html")
