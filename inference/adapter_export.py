"""Downloading one revision of a user model's adapter: shared by GET /v1/models/{id}/adapter (Bearer key)
and the Playground's download button (session)."""
from collections.abc import Iterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async

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
        return {"Content-Disposition": f'attachment; filename="{self.filename}"'}


async def adapter_archive(*, owner, model_ref: str, revision: str | None = None) -> AdapterArchive:
    """A zip of one revision (the current one by default) of the owner's model; `revision` is the raw
    query value, refused unless it is a non-negative integer."""
    model = await sync_to_async(trainable_model)(owner=owner, ref=model_ref)
    raw = str(model.revision) if revision is None else revision
    if not raw.isdigit():
        raise InvalidRequest("revision must be a non-negative integer.", param="revision", code="invalid_value")
    await sync_to_async(selectors.revision_get)(model=model, number=int(raw))
    path = await ensure_revision_dir(model, int(raw))
    return AdapterArchive(filename=f"{model.slug}-rev{raw}.zip", chunks=stream_zip(path))
