"""Revision history, restore, and adapter export."""
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import revisions, selectors
from inference.adapter_export import adapter_archive
from inference.api.model_info import model_info
from inference.api.schema import ModelInfo, RevisionInfo, errors
from inference.training import trainable_model
from tigercity.asyncapi import async_api


def revision_info(revision, runs_by_revision: dict) -> dict:
    run = runs_by_revision.get(revision.number)
    return {
        "revision": revision.number,
        "created": revision.created_at.isoformat().replace("+00:00", "Z"),
        "restored_from": revision.restored_from,
        "training": {**run.metrics, "kind": run.kind} if run else None,
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


@async_api(methods=("GET",))
async def adapter_export(request, model_id):
    """A zip of the revision's standard PEFT adapter directory."""
    archive = await adapter_archive(owner=request.user, model_ref=model_id, revision=request.GET.get("revision"))
    return StreamingHttpResponse(archive.chunks, content_type=archive.content_type, headers=archive.headers)
