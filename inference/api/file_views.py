"""/v1/files and /openai/v1/files: upload (multipart), list, read, delete a dataset file."""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import datasets
from inference.api.schema import errors
from tigercity.errors import InvalidRequest


class FileInfo(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    bytes = serializers.IntegerField()
    created_at = serializers.IntegerField()
    filename = serializers.CharField()
    purpose = serializers.CharField()
    status = serializers.CharField()
    kind = serializers.CharField(help_text="supervised | preference")
    lines = serializers.IntegerField(help_text="examples in the file")
    tokens = serializers.IntegerField(help_text="tokens per epoch (default base model's tokenizer)")


class FileUpload(serializers.Serializer):
    file = serializers.FileField()
    purpose = serializers.CharField(help_text="fine-tune")


class FileListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(operation_id="files_list", summary="Your dataset files, newest first",
                   responses={200: inline_serializer("FileList", fields={
                       "object": drf_serializers.CharField(), "data": FileInfo(many=True),
                       "has_more": drf_serializers.BooleanField()}), **errors()})
    def get(self, request):
        files = datasets.file_list(owner=request.user, purpose=request.GET.get("purpose") or None)
        return Response({"object": "list", "data": [datasets.file_info(f) for f in files], "has_more": False})

    @extend_schema(operation_id="files_create", summary="Upload a JSONL dataset (every line validated)",
                   request={"multipart/form-data": FileUpload}, responses={200: FileInfo, **errors(400, 413, 415)})
    def post(self, request):
        # Refuse an oversized body before parsing it (the limit's message names it).
        datasets.check_upload_size(int(request.META.get("CONTENT_LENGTH") or 0) - 64 * 1024)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidRequest("Send the dataset as the multipart field 'file'.", param="file", code="missing_file")
        datasets.check_upload_size(upload.size)
        purpose = request.data.get("purpose", "")
        file = datasets.file_create(owner=request.user, filename=upload.name or "", data=upload.read(), purpose=purpose)
        return Response(datasets.file_info(file))


class FileDetailView(APIView):
    @extend_schema(operation_id="files_read", summary="One dataset file", responses={200: FileInfo, **errors(404)})
    def get(self, request, file_id):
        return Response(datasets.file_info(datasets.file_get(owner=request.user, file_id=file_id)))

    @extend_schema(operation_id="files_delete", summary="Delete a dataset file", responses={200: dict, **errors(404)})
    def delete(self, request, file_id):
        datasets.file_delete(owner=request.user, file_id=file_id)
        return Response({"id": file_id, "object": "file", "deleted": True})
