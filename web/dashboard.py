"""The pages clinicians see. For now only the home page (who is signed in, where the API is);
participant lists, charts and reports come in later slices of the clinic-server issue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template

from web.auth import login_required

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required()
def home() -> Any:
    return render_template("home.html", user=g.user)
