"""REST endpoints of the exports a worker builds: queue one, poll it, download its file."""

from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.permissions import check, project_for, role_of

from . import export, export_jobs
from .models import ExportJob


class ExportJobInput(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(export.FILE_FORMATS))
    split = serializers.CharField(required=False, allow_blank=True, help_text="train, dev or test")
    only_informative = serializers.BooleanField(required=False, default=False)
    only_gold = serializers.BooleanField(required=False, default=False)


class ExportJobOutput(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(help_text="Where to get the file once the job is done.")

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "project",
            "format",
            "options",
            "status",
            "message",
            "run",
            "size",
            "download",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_download(self, job: ExportJob) -> str | None:
        if job.status != "done":
            return None
        path = f"/api/exports/{job.pk}/download/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


def _job(request, pk: int) -> ExportJob:
    job = ExportJob.objects.select_related("project").filter(pk=pk).first()
    if job is None or role_of(request.user, job.project) is None:
        raise Http404("No such export.")  # the same answer whether it exists or not
    check(request.user, "export", job.project)
    return job


class ExportJobListApi(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(responses=ExportJobOutput(many=True), summary="The project's file exports, newest first")
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "export")
        jobs = ExportJob.objects.filter(project=project)[:50]
        return Response(ExportJobOutput(jobs, many=True, context={"request": request}).data)

    @extend_schema(
        request=ExportJobInput,
        responses={201: ExportJobOutput},
        summary="Queue a Parquet, label-matrix or archive export; poll it, then download its file",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "export")
        serializer = ExportJobInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        fmt = data.pop("format")
        job = export_jobs.start_export(project=project, user=request.user, fmt=fmt, options=data)
        return Response(
            ExportJobOutput(job, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ExportJobDetailApi(APIView):
    @extend_schema(responses=ExportJobOutput, summary="A file export's status, and its download once done")
    def get(self, request, pk: int):
        return Response(ExportJobOutput(_job(request, pk), context={"request": request}).data)


class ExportJobDownloadApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="The file")
    def get(self, request, pk: int):
        job = _job(request, pk)
        if job.status != "done" or not job.file:
            raise Http404("This export has no file yet; poll /api/exports/{id}/ until its status is done.")
        name = job.file.name.rsplit("/", 1)[-1]
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=name)
