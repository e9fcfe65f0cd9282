"""Downloading one revision of a user model's adapter: shared by GET /v1/models/{id}/adapter (Bearer key)
and the Playground's download button (session)."""
from collections.abc import Iterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.utils.http import content_disposition_header

from inference import selectors
from inference.engine.files import stream_zip
from inference.training import ensure_revision_dir, trainable_model
from tigercity.errors import InvalidRequest


@dataclass(frozen=True)
class AdapterArchive:
    filename: str  # <model id>-rev<n>.zip
    chunks: Iterator[bytes]  # a zip of the standard PEFT adapter directory, built while it is read
    content_type = "application/zip"

    @property
    def headers(self) -> dict:
        return {"Content-Disposition": content_disposition_header(True, self.filename)}


async def adapter_archive(*, owner, model_ref: str, revision: str | None = None) -> AdapterArchive:
    """A zip of one revision (the current one by default) of the owner's model; `revision` is the raw
    query value, refused unless it is a non-negative integer."""
    model = await sync_to_async(trainable_model)(owner=owner, ref=model_ref)
    raw = str(model.revision) if revision is None else revision
    # ASCII digits only: str.isdigit also accepts "²" or "٠", which int() refuses or reads as another digit.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise InvalidRequest("revision must be a non-negative integer (at most 9 digits).", param="revision",
                             code="invalid_value")
    number = int(raw)
    await sync_to_async(selectors.revision_get)(model=model, number=number)
    path = await ensure_revision_dir(model, number)
    return AdapterArchive(filename=f"{model.slug}-rev{number}.zip", chunks=stream_zip(path))
