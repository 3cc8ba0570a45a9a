from __future__ import annotations

from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for

from clinic_app.core.access import public
from clinic_app.core.api import api_route, build_openapi
from clinic_app.core.time import utcnow
from clinic_app.site import bp
from clinic_app.site.schemas import RootInfo

API_TITLE = "Clinic App API"


@api_route(bp, "/", summary="Root information (HTML home page for browsers)", response=RootInfo, tags=("health",))
@public
def home() -> Any:
    # Browsers get the home page; API clients (curl's */* included) get the contract's JSON.
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = current_app.response_class(render_template("site/home.html"))
        response.vary.add("Accept")
        return response
    answer = RootInfo(
        message=API_TITLE,
        version=current_app.config["VERSION"],
        status="healthy",
        timestamp=utcnow(),
        docs="/docs",
        redoc="/redoc",
    )
    response = current_app.json.response(answer.model_dump(mode="json"))
    response.vary.add("Accept")
    return response


def openapi_document() -> dict[str, Any]:
    cached = current_app.extensions.get("clinic_openapi")
    if cached is None:
        cached = build_openapi(current_app, title=API_TITLE, version=current_app.config["VERSION"])
        current_app.extensions["clinic_openapi"] = cached
    return cached


@bp.get("/api/v1/openapi.json")
@public
def openapi_json() -> Response:
    return current_app.json.response(openapi_document())


@bp.get("/docs")
@public
def docs() -> str:
    spec = openapi_document()
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            groups.setdefault(operation["tags"][0], []).append({"path": path, "method": method.upper(), **operation})
    return render_template(
        "site/docs.html", spec=spec, groups=sorted(groups.items()), schemas=spec["components"]["schemas"]
    )


@bp.get("/redoc")
@public
def redoc() -> Response:
    return redirect(url_for("site.docs"))
