"""Broken multipart bodies on `POST /v1/ngo/photos`: a 400/413/415/422 problem, nothing stored,
nothing logged, the same with an `Idempotency-Key` (whose middleware parses the form to hash it)
and the key still free for a good retry. Text parts with bad UTF-8 or an unknown charset were 500s
(Litestar's parser let UnicodeDecodeError and LookupError escape), and so were UTF-7 surrogates
under an `Idempotency-Key`."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from server.db import Database
from server.idempotency import IdempotencyRecord
from server.planting.models import Photo
from tests.api import Api
from tests.ops.test_hostile_input import assert_problem
from tests.planting.helpers import create_ngo, image_bytes

BOUNDARY = "canopy-test-boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
END = f"--{BOUNDARY}--\r\n".encode()
IMAGE = image_bytes(1)


def part(headers: list[str], content: bytes) -> bytes:
    """One part; `surrogatepass` lets a test put the bytes of a lone surrogate in a header."""
    head = "".join(f"{line}\r\n" for line in headers).encode("utf-8", "surrogatepass")
    return f"--{BOUNDARY}\r\n".encode() + head + b"\r\n" + content + b"\r\n"


def file_part(name: str = "file", filename: str = "tree.jpg", content: bytes = IMAGE) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'
    return part([disposition, "Content-Type: image/jpeg"], content)


def text_part(name: str, content: bytes, content_type: str | None = None) -> bytes:
    headers = [f'Content-Disposition: form-data; name="{name}"']
    return part(headers + ([f"Content-Type: {content_type}"] if content_type else []), content)


# name: (Content-Type, body, status, problem). Each body holds a good photo: accepting it would store one.
BROKEN = {
    "text not UTF-8": (FORM, file_part() + text_part("note", b"caf\xe9") + END, 400, "malformed-form"),
    "file sent as a text field": (FORM, text_part("file", IMAGE) + END, 400, "malformed-form"),
    "unknown part charset": (
        FORM,
        file_part() + text_part("note", b"hi", "text/plain; charset=x-unknown") + END,
        415,
        "unsupported-media-type",
    ),
    "part charset that is no text encoding": (
        FORM,
        file_part() + text_part("note", b"hi", "text/plain; charset=rot13") + END,
        415,
        "unsupported-media-type",
    ),
    "UTF-7 lone surrogate": (
        FORM,
        file_part() + text_part("note", b"+2AA-", "text/plain; charset=utf-7") + END,
        415,
        "unsupported-media-type",
    ),
    "unknown request charset": (
        FORM + "; charset=x-unknown",
        file_part() + text_part("note", b"hi") + END,
        415,
        "unsupported-media-type",
    ),
    "missing boundary": ("multipart/form-data", file_part() + END, 400, "malformed-form"),
    "empty boundary": ("multipart/form-data; boundary=", file_part() + END, 400, "malformed-form"),
    "boundary over 70 characters": (
        f"multipart/form-data; boundary={'b' * 71}",
        file_part() + END,
        400,
        "malformed-form",
    ),
    "boundary not in the body": ("multipart/form-data; boundary=another", file_part() + END, 400, "malformed-form"),
    "truncated body": (FORM, (file_part() + END)[:-100], 400, "malformed-form"),
    "no closing boundary": (FORM, file_part(), 400, "malformed-form"),
    "part without Content-Disposition": (FORM, part(["Content-Type: image/jpeg"], IMAGE) + END, 400, "malformed-form"),
    "file name with NUL": (FORM, file_part(filename="tree\x00.jpg") + END, 400, "malformed-form"),
    "file name with a lone surrogate": (FORM, file_part(filename="tree\ud800.jpg") + END, 400, "malformed-form"),
    "field name with NUL": (FORM, file_part(name="file\x00") + END, 400, "malformed-form"),
    "1001 parts": (
        FORM,
        file_part() + b"".join(text_part(f"f{i}", b"x") for i in range(1000)) + END,
        413,
        "payload-too-large",
    ),
    "900 text fields of 100 bytes": (
        FORM,
        file_part() + b"".join(text_part(f"f{i}", b"x" * 100) for i in range(900)) + END,
        413,
        "payload-too-large",
    ),
    "one 5 MB text field": (FORM, file_part() + text_part("note", b"x" * 5_000_000) + END, 413, "payload-too-large"),
    "part header over 4 kB": (
        FORM,
        part(['Content-Disposition: form-data; name="file"; filename="tree.jpg"', "X-Pad: " + "p" * 5000], IMAGE) + END,
        413,
        "payload-too-large",
    ),
    "two files": (FORM, file_part() + file_part(content=image_bytes(2)) + END, 400, "photo-missing"),
    "empty file": (FORM, file_part(content=b"") + END, 422, "photo-format"),
    "empty multipart body": (FORM, b"", 400, "malformed-form"),
    "JSON sent to the multipart route": ("application/json", b'{"file": "x"}', 415, "unsupported-media-type"),
    "body without Content-Type": (None, file_part() + END, 415, "unsupported-media-type"),
}


async def _count(api: Api, column: object) -> int:
    database = Database(api.settings.database_url)
    try:
        async with database.read_sessions() as session:
            return (await session.execute(select(func.count(column)))).scalar_one()
    finally:
        await database.dispose()


@pytest.mark.parametrize("idempotency_key", [None, "photo-key"], ids=["plain", "idempotency-key"])
@pytest.mark.parametrize("case", list(BROKEN))
async def test_broken_forms_are_refused(
    api: Api, caplog: pytest.LogCaptureFixture, case: str, idempotency_key: str | None
) -> None:
    content_type, body, status, problem = BROKEN[case]
    ngo = await create_ngo(api)
    headers = {**ngo.headers}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    with caplog.at_level(logging.WARNING):
        response = await api.client.post("/v1/ngo/photos", content=body, headers=headers)
    assert_problem(response, statuses=(status,))
    if problem is not None:
        assert response.json()["type"] == f"urn:canopy:problem:{problem}", response.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await _count(api, Photo.id) == 0
    assert await _count(api, IdempotencyRecord.scope_hash) == 0
    if idempotency_key is not None:  # the refusal did not take the key
        retry = await api.client.post(
            "/v1/ngo/photos",
            files={"file": ("tree.jpg", IMAGE, "image/jpeg")},
            headers={**ngo.headers, "Idempotency-Key": idempotency_key},
        )
        assert retry.status_code == 201, retry.text


@pytest.mark.parametrize("idempotency_key", [None, "photo-key"], ids=["plain", "idempotency-key"])
async def test_utf8_forms_are_taken_and_fields_beside_the_file_refused(api: Api, idempotency_key: str | None) -> None:
    """`charset=utf-8` on the request and a non-ASCII file name are fine; a text field beside the
    file is refused like an unknown JSON field (400 `validation`), nothing stored, the key still free."""
    ngo = await create_ngo(api)
    headers = {**ngo.headers, "Content-Type": FORM + "; charset=utf-8"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    with_text = file_part() + text_part("note", "Grüße".encode(), "text/plain; charset=UTF-8") + END
    refused = await api.client.post("/v1/ngo/photos", content=with_text, headers=headers)
    assert_problem(refused, (400,))
    assert refused.json()["type"].endswith(":validation")
    assert refused.json()["errors"] == [{"field": "note", "message": "unknown field"}]
    assert await _count(api, Photo.id) == 0

    body = file_part(filename="Baum \U0001f333.jpg") + END
    first = await api.client.post("/v1/ngo/photos", content=body, headers=headers)
    assert first.status_code == 201, first.text
    if idempotency_key is not None:
        repeat = await api.client.post("/v1/ngo/photos", content=body, headers=headers)
        assert repeat.status_code == 201 and repeat.headers.get("idempotent-replayed") == "true"
        assert repeat.json() == first.json()
        changed = file_part(filename="Baum \U0001f333.jpg", content=image_bytes(2)) + END
        other = await api.client.post("/v1/ngo/photos", content=changed, headers=headers)
        assert other.status_code == 422 and other.json()["type"].endswith(":idempotency-key-reused")
    assert await _count(api, Photo.id) == 1
