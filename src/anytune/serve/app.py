"""The FastAPI application: routes under ``/v1``, API-key auth, OpenAI-shaped errors, and the training
queue started and stopped with the app."""

from __future__ import annotations

import hmac
import time
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request

from . import chat, errors, files, jobs
from .config import ServeConfig
from .db import ServeDB
from .errors import APIError
from .runner import Runner


def _scope(path: str) -> str:
    """What a route under /v1 needs of a restricted key (see ``anytune.serve.config``)."""
    part = path.removeprefix("/v1/").split("/", 1)[0]
    return {"files": "files", "fine_tuning": "fine_tuning", "models": "models"}.get(part, "inference")


def require_key(request: Request) -> None:
    """Bearer auth against the configured keys; every key is compared, in constant time. A restricted key
    may call only its scopes (403 otherwise, as OpenAI answers a restricted key)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(401, "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
                       "(Authorization: Bearer YOUR_KEY).")
    given = token.strip().encode()
    config = request.app.state.config
    matched = None
    for key in config.api_keys:
        if hmac.compare_digest(given, key.encode()):
            matched = key
    if matched is None:
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
    scopes = config.key_scopes.get(matched)
    needed = _scope(request.url.path)
    if scopes is not None and needed not in scopes:
        raise APIError(403, f"You have insufficient permissions for this operation. Missing scopes: {needed}. "
                       f"This key may call: {', '.join(sorted(scopes))}.", code="insufficient_permissions")


def create_app(config: ServeConfig) -> FastAPI:
    db = ServeDB(config.db_path)
    runner = Runner(config, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner.start()
        try:
            yield
        finally:
            runner.stop()

    app = FastAPI(title="anytune serve", description="OpenAI-compatible fine-tuning API on your own GPUs",
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config, app.state.db, app.state.runner = config, db, runner
    app.state.started = int(time.time())
    from .inference import ModelPool

    app.state.models = ModelPool(config, db)
    errors.install(app)
    for router in (files.router, jobs.router, chat.router):
        app.include_router(router, prefix="/v1", dependencies=[Depends(require_key)])

    @app.get("/health", include_in_schema=False)
    def health():
        """Up, and which weights are loaded for inference (each base once, with the adapters put onto it)."""
        loaded = [{"model": m.engine.label, "adapters": len(m.adapters)} for m in app.state.models.loaded.values()]
        return {"status": "ok", "loaded": loaded}

    return app
