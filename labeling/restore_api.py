"""REST endpoints for restoring a project archive as a new project: upload it, then poll the job."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.services import ServiceError

from . import restore_jobs
from .models import RestoreJob


class RestoreInput(serializers.Serializer):
    file = serializers.FileField(help_text="A Chorus project archive (.chorus.zip, from an archive export)")
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The new project's name (default: the archived one's)",
    )


class RestoreJobOutput(serializers.ModelSerializer):
    class Meta:
        model = RestoreJob
        fields = [
            "id",
            "filename",
            "name",
            "status",
            "stage",
            "processed",
            "total",
            "project",
            "errors",
            "notices",
            "created_at",
            "started_at",
            "finished_at",
        ]


class RestoreListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=RestoreJobOutput(many=True), summary="My archive restores, newest first")
    def get(self, request):
        jobs = RestoreJob.objects.filter(created_by=request.user)[:50]
        return Response(RestoreJobOutput(jobs, many=True).data)

    @extend_schema(
        request={"multipart/form-data": RestoreInput},
        responses={201: RestoreJobOutput},
        summary="Upload a project archive; a worker restores it as a new project, with me as its admin",
    )
    def post(self, request):
        # Anyone signed in may create a project, so anyone may restore one.
        if not request.FILES.get("file"):
            raise ServiceError("choose an archive to upload (the multipart field 'file')", "file")
        serializer = RestoreInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = restore_jobs.start_restore(user=request.user, upload=data["file"], name=data.get("name", ""))
        return Response(RestoreJobOutput(job).data, status=status.HTTP_201_CREATED)


class RestoreJobDetailApi(APIView):
    @extend_schema(responses=RestoreJobOutput, summary="A restore's stage, progress, new project and errors")
    def get(self, request, pk: int):
        job = RestoreJob.objects.filter(pk=pk, created_by=request.user).first()
        if job is None:
            raise Http404("No such restore.")  # another user's restore is not there for you
        return Response(RestoreJobOutput(job).data)
