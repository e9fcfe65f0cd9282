"""Revision history, restore, and adapter export."""
from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import revisions, selectors
from inference.engine.files import stream_zip
from inference.api.schema import ModelInfo, RevisionInfo, errors
from inference.api.serializers import model_info
from inference.training import ensure_revision_dir, trainable_model
from tigercity.asyncapi import async_api
from tigercity.errors import InvalidRequest


def revision_info(revision, runs_by_revision: dict) -> dict:
    run = runs_by_revision.get(revision.number)
    return {
        "revision": revision.number,
        "created": revision.created_at.isoformat().replace("+00:00", "Z"),
        "restored_from": revision.restored_from,
        "training": run.metrics if run else None,
    }


class RevisionListView(APIView):
    @extend_schema(operation_id="revisions_list", summary="A model's kept revisions with their training metrics",
                   responses={200: RevisionInfo(many=True), **errors(403, 404)})
    def get(self, request, model_id):
        model = trainable_model(owner=request.user, ref=model_id)
        runs = {r.to_revision: r for r in selectors.training_runs_for(model=model) if r.to_revision is not None}
        return Response([revision_info(r, runs) for r in selectors.revision_list(model=model)])


class RevisionRestoreView(APIView):
    @extend_schema(operation_id="revisions_restore", summary="A new revision whose weights equal revision n",
                   request=None, responses={200: ModelInfo, **errors(403, 404)})
    def post(self, request, model_id, number):
        model = trainable_model(owner=request.user, ref=model_id)
        selectors.revision_get(model=model, number=int(number))
        revisions.revision_restore(model=model, number=int(number))
        model.refresh_from_db()
        return Response(model_info(model))


async def adapter_zip_response(*, owner, model_ref: str, revision: str | None = None) -> StreamingHttpResponse:
    """A zip of one revision (the current one by default) of the owner's model: its PEFT adapter directory.

    Shared by GET /v1/models/{id}/adapter (Bearer key) and the Playground's download (session).
    """
    model = await sync_to_async(trainable_model)(owner=owner, ref=model_ref)
    raw = str(model.revision) if revision is None else revision
    if not raw.isdigit():
        raise InvalidRequest("revision must be a non-negative integer.", param="revision", code="invalid_value")
    await sync_to_async(selectors.revision_get)(model=model, number=int(raw))
    path = await ensure_revision_dir(model, int(raw))
    filename = f"{model.slug}-rev{raw}.zip"
    return StreamingHttpResponse(stream_zip(path), content_type="application/zip",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@async_api(methods=("GET",))
async def adapter_export(request, model_id):
    """A zip of the revision's standard PEFT adapter directory."""
    return await adapter_zip_response(owner=request.user, model_ref=model_id, revision=request.GET.get("revision"))
