from __future__ import annotations

from typing import Any

from flask import Response, current_app, render_template, request

from clinic_app.core.access import public
from clinic_app.core.api import api_route
from clinic_app.core.openapi import build_openapi
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


# The vendored ReDoc bundle (npm redoc 2.5.2, MIT; LICENSE next to it): served from here, so the
# page needs no network beyond this app.
REDOC_BUNDLE = "vendor/redoc/redoc.standalone.js"

# ReDoc styles itself with inline <style> elements (styled-components, no nonce) and runs its search
# index in a worker it builds from a blob: URL; the app's policy allows neither, so this page alone
# widens exactly those two. Scripts stay 'self' only, and the page still cannot be framed.
REDOC_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@bp.get("/redoc")
@public
def redoc() -> Response:
    page = current_app.response_class(
        render_template("site/redoc.html", title=API_TITLE, redoc_bundle=REDOC_BUNDLE), mimetype="text/html"
    )
    page.headers["Content-Security-Policy"] = REDOC_CSP
    return page
