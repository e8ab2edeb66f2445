"""``/v1/files``: upload (multipart, streamed to disk, size-limited, checked line by line), list,
retrieve, content, delete."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from .. import openai_format
from ..errors import DataError
from .db import new_id
from .errors import APIError, not_found
from .objects import file_object, page

router = APIRouter()
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and the purpose field, on top of the file itself


def _too_large(limit: int) -> APIError:
    return APIError(413, f"The file is larger than this server accepts ({limit / (1 << 20):.0f} MiB); "
                    "split it, or start anytune serve with a larger --max-upload-mb.", param="file",
                    code="file_too_large")


async def _limited(stream, limit: int):
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise _too_large(limit - MULTIPART_OVERHEAD)
        yield chunk


def _store(upload: UploadFile, dest: Path, filename: str, limit: int) -> tuple[int, str, openai_format.FileCheck]:
    """Copy the spooled upload to ``dest`` while hashing it and checking every line."""
    checker = openai_format.LineChecker(filename)
    digest, size = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    try:
        upload.file.seek(0)
        with open(tmp, "wb") as out:
            for line in upload.file:
                digest.update(line)
                size += len(line)
                if size > limit:
                    raise _too_large(limit)
                out.write(line)
                try:
                    checker.feed(line)
                except UnicodeDecodeError:
                    raise DataError("not UTF-8 text", file=filename, line=checker._lineno) from None
        if checker.result.examples == 0:
            raise DataError("the file holds no examples", file=filename)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return size, digest.hexdigest(), checker.result


@router.post("/files")
async def create_file(request: Request):
    config, db = request.app.state.config, request.app.state.db
    limit = config.max_upload_bytes + MULTIPART_OVERHEAD
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise APIError(400, "Upload the file as multipart/form-data with fields 'file' and 'purpose'.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(config.max_upload_bytes)
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit), max_files=1, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise APIError(400, f"Malformed multipart upload: {exc}") from None
    try:
        purpose, upload = form.get("purpose"), form.get("file")
        if purpose != "fine-tune":
            raise APIError(400, f"'{purpose}' is not a purpose this server stores: it only fine-tunes, so "
                           "upload with purpose='fine-tune'.", param="purpose")
        if not isinstance(upload, UploadFile):
            raise APIError(400, "Missing the 'file' field.", param="file")
        filename = re.sub(r"[^\w.\- ]", "_", Path(upload.filename or "upload.jsonl").name)[:200] or "upload.jsonl"
        file_id = new_id("file")
        dest = config.files_dir / f"{file_id}.jsonl"
        try:
            size, sha, checked = await run_in_threadpool(_store, upload, dest, filename,
                                                         config.max_upload_bytes)
        except DataError as exc:
            raise APIError(400, f"Invalid file format for fine-tuning: {exc}", param="file",
                           code="invalid_file_format") from None
    finally:
        await form.close()
    row = db.add_file(id=file_id, bytes=size, filename=filename, purpose=purpose, path=str(dest), sha256=sha,
                      kind=checked.kind, examples=checked.examples)
    return file_object(row)


@router.get("/files")
def list_files(request: Request, purpose: str | None = None, after: str | None = None,
               limit: Annotated[int, Query(ge=1, le=10000)] = 10000, order: Literal["asc", "desc"] = "desc"):
    rows, more = request.app.state.db.files(purpose, after, limit, order == "asc")
    return page([file_object(r) for r in rows], more)


def _file(request: Request, file_id: str) -> dict:
    row = request.app.state.db.file(file_id)
    if row is None:
        raise not_found("File", file_id)
    return row


@router.get("/files/{file_id}")
def retrieve_file(request: Request, file_id: str):
    return file_object(_file(request, file_id))


@router.get("/files/{file_id}/content")
def file_content(request: Request, file_id: str):
    row = _file(request, file_id)
    return FileResponse(row["path"], media_type="application/octet-stream", filename=row["filename"])


@router.delete("/files/{file_id}")
def delete_file(request: Request, file_id: str):
    db = request.app.state.db
    row = _file(request, file_id)
    users = db.jobs_using(file_id)
    if users:
        raise APIError(400, f"File {file_id} is used by fine-tuning job {users[0]}, which has not finished; "
                       "cancel it first.", param="file_id")
    db.delete_file(file_id)
    path = Path(row["path"])
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    return {"id": file_id, "object": "file", "deleted": True}
