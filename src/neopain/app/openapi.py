"""The OpenAPI document, made true to what the app answers (checked by schemathesis in the tests).

FastAPI documents JSON errors everywhere; the page routes answer errors as HTML pages, send the logged-out
visitor to the login page (303), and the JSON API answers ``{"detail": "..."}``. This fills those in
centrally instead of repeating ``responses=`` on every route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

HTML = {"text/html": {"schema": {"type": "string"}}}
JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}}
ERROR_SCHEMA = {
    "title": "ErrorPublic",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}
COMMON = {
    "400": "the request could not be parsed",
    "403": "the role may not do this, or the CSRF token is missing",
    "404": "no such object",
    "409": "a conflict with the current state",
    "410": "gone (deleted at the end of the retention period)",
    "413": "the request or the image is too large",
    "415": "not a JPEG, PNG or WebP still image",
    "422": "invalid input",
    "429": "too many failed logins; see Retry-After",
    "503": "the model is not available",
}
PAGE_REDIRECT = "a redirect: after a form, or to the login page when not logged in"


def _fill(path: str, operation: dict[str, Any]) -> None:
    api = path.startswith("/api/")
    responses = operation.setdefault("responses", {})
    for code, text in COMMON.items():
        if api:
            content: dict[str, Any] = JSON_ERROR
        else:
            # A declared oversize body is refused before routing, in JSON; everything else is a page.
            content = {**HTML, **JSON_ERROR} if code == "413" else HTML
        responses[code] = {
            "description": responses.get(code, {}).get("description", text),
            "content": content,
        }
    if api:
        responses["401"] = {
            "description": "not logged in (or logged out after inactivity)",
            "content": JSON_ERROR,
        }
    else:
        responses["303"] = {"description": PAGE_REDIRECT}
    if path == "/login":
        responses["401"] = {"description": "wrong user name or password", "content": HTML}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                _fill(path, operation)
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorPublic"] = ERROR_SCHEMA
        app.openapi_schema = schema
    return app.openapi_schema


def install(app: FastAPI) -> None:
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
