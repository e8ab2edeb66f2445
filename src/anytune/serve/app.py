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


def require_key(request: Request) -> None:
    """Bearer auth against the configured keys; every key is compared, in constant time."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(401, "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
                       "(Authorization: Bearer YOUR_KEY).")
    given = token.strip().encode()
    ok = False
    for key in request.app.state.config.api_keys:
        ok |= hmac.compare_digest(given, key.encode())
    if not ok:
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")


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
