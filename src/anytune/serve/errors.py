"""Every error the server returns has OpenAI's shape, so OpenAI clients raise their usual typed errors:

    {"error": {"message": "...", "type": "invalid_request_error", "param": "training_file", "code": null}}
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("anytune.serve")


class APIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type


def not_found(kind: str, id: str, param: str = "id") -> APIError:
    return APIError(404, f"No such {kind} object: {id}", param=param, code=None)


def response(status: int, message: str, *, param=None, code=None, type="invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type, "param": param, "code": code}},
                        status_code=status)


_TAG = re.compile(r"^(int|float|str|bool|none|literal\[.*\]|constrained-.*|function-.*)$")


def _param(loc: tuple) -> str | None:
    """``body.method.supervised.hyperparameters.n_epochs.int`` -> ``method.supervised.hyperparameters.n_epochs``
    (drops the request part and pydantic's union-branch tags)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") and not _TAG.match(str(p))]
    return ".".join(parts) or None


def _first(errors: list[dict]) -> dict:
    """The most useful error: a union reports one per branch; skip the "should be 'auto'" ones."""
    specific = [e for e in errors if not any(str(p).startswith("literal[") for p in e.get("loc", ()))]
    return (specific or errors)[0]


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError):
        return response(exc.status, exc.message, param=exc.param, code=exc.code, type=exc.type)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if exc.status_code in (404, 405):
            return response(exc.status_code, f"Invalid URL ({request.method} {request.url.path})")
        return response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = _first(list(exc.errors()))
        param = _param(tuple(first.get("loc", ())))
        if first.get("type") == "extra_forbidden":
            return response(400, f"Unrecognized request argument supplied: {param}", param=param)
        if first.get("type") == "json_invalid":
            return response(400, "The request body is not valid JSON.", code="invalid_json")
        message = f"Invalid value for '{param}': {first.get('msg')}" if param else str(first.get("msg"))
        return response(400, message, param=param)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("error while serving %s %s", request.method, request.url.path)
        return response(500, "The server had an error while processing your request; its log has the details.",
                        type="server_error")
