"""/v1/fine_tuning/jobs and /openai/v1/fine_tuning/jobs: create, list, read, events, cancel."""
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import finetune_jobs
from inference.api.schema import errors
from inference.job_events import event_info, job_info
from tigercity.errors import InvalidRequest

PAGE = [OpenApiParameter("after", str, description="the last id of the previous page"),
        OpenApiParameter("limit", int, description="1 to 100 (default 20)")]


class JobCreate(serializers.Serializer):
    model = serializers.CharField(help_text="one of your models (name or id)")
    training_file = serializers.CharField()
    validation_file = serializers.CharField(required=False)
    preference_file = serializers.CharField(required=False, help_text="method supervised+dpo: the preference dataset")
    method = serializers.JSONField(required=False, help_text='{"type": "supervised"|"dpo"|"supervised+dpo", '
                                                           '"supervised": {"hyperparameters": {...}}, "dpo": {...}}')
    seed = serializers.IntegerField(required=False)
    suffix = serializers.CharField(required=False)
    early_stopping = serializers.JSONField(required=False, help_text='{"threshold": 0.0, "patience": 2}')
    integrations = serializers.JSONField(required=False, help_text='[{"type": "wandb", "wandb": {"project", "entity", "api_key"}}]')


class JobInfo(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    model = serializers.CharField()
    status = serializers.CharField()
    method = serializers.JSONField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    metrics = serializers.JSONField()
    result_revision = serializers.IntegerField(allow_null=True)
    error = serializers.JSONField(allow_null=True)


def _page(rows, has_more, render) -> dict:
    return {"object": "list", "data": [render(r) for r in rows], "has_more": has_more}


class JobListView(APIView):
    @extend_schema(operation_id="fine_tuning_jobs_list", summary="Your fine-tuning jobs, newest first", parameters=PAGE,
                   responses={200: inline_serializer("JobList", fields={
                       "object": drf_serializers.CharField(), "data": JobInfo(many=True),
                       "has_more": drf_serializers.BooleanField()}), **errors(400)})
    def get(self, request):
        rows, more = finetune_jobs.job_page(owner=request.user, after=request.GET.get("after"),
                                            limit_raw=request.GET.get("limit"))
        return Response(_page(rows, more, job_info))

    @extend_schema(operation_id="fine_tuning_jobs_create", summary="Start a fine-tuning job (supervised, dpo, or both)",
                   request=JobCreate, responses={200: JobInfo, **errors(400, 403, 404, 429)})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise InvalidRequest("The body must be a JSON object.")
        job = finetune_jobs.job_create(owner=request.user, data=request.data)
        return Response(job_info(job))


class JobDetailView(APIView):
    @extend_schema(operation_id="fine_tuning_jobs_read", summary="One fine-tuning job", responses={200: JobInfo, **errors(404)})
    def get(self, request, job_id):
        return Response(job_info(finetune_jobs.job_get(owner=request.user, job_id=job_id)))


class JobEventsView(APIView):
    @extend_schema(operation_id="fine_tuning_jobs_events", summary="A job's events (metrics and milestones), newest first",
                   parameters=PAGE, responses={200: dict, **errors(400, 404)})
    def get(self, request, job_id):
        job = finetune_jobs.job_get(owner=request.user, job_id=job_id)
        rows, more = finetune_jobs.event_page(job=job, after=request.GET.get("after"), limit_raw=request.GET.get("limit"))
        return Response(_page(rows, more, event_info))


class JobCancelView(APIView):
    @extend_schema(operation_id="fine_tuning_jobs_cancel", summary="Cancel a queued or running job",
                   request=None, responses={200: JobInfo, **errors(400, 404)})
    def post(self, request, job_id):
        return Response(job_info(finetune_jobs.job_cancel(owner=request.user, job_id=job_id)))
