"""REST endpoints for labeling functions, previews, label-model runs and exports: one small view per endpoint.

Each handler opens with the access check (outsiders 404, roles lacking the action 403), calls one service
or read, and answers with an output serializer.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api import Pages, paginated, valid_input
from projects.models import Project
from projects.permissions import check, project_for, role_of
from projects.services import ServiceError

from . import export, services
from .models import LabelingFunction, LabelModelRun
from .serializers import (
    LFConflictOutput,
    LFInput,
    LFOutput,
    LFUpdateInput,
    PreviewInput,
    PreviewOutput,
    RunOutput,
    RunSummaryOutput,
)


def _live_lf(user, pk: int, action: str) -> LabelingFunction:
    lf = LabelingFunction.objects.live().select_related("project", "current").filter(pk=pk).first()
    if lf is None or role_of(user, lf.project) is None:
        raise Http404("No such labeling function.")  # the same answer whether it exists or not
    check(user, action, lf.project)
    return lf


def _lf_list(project: Project):
    return LabelingFunction.objects.live().filter(project=project).select_related("project", "current")


class LFListApi(APIView):
    @extend_schema(
        responses=LFOutput(many=True), summary="The project's labeling functions (deleted ones left out)"
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_lfs")
        return Response(LFOutput(_lf_list(project), many=True).data)

    @extend_schema(
        request=LFInput,
        responses={201: LFOutput},
        summary="Write a labeling function; its first version is applied by a worker, then the label model refits",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "edit_lfs")
        data = valid_input(LFInput, request.data)
        lf = services.create_lf(project=project, user=request.user, **data)
        return Response(LFOutput(_lf_list(project).get(pk=lf.pk)).data, status=status.HTTP_201_CREATED)


class LFDetailApi(APIView):
    @extend_schema(responses=LFOutput)
    def get(self, request, pk: int):
        lf = _live_lf(request.user, pk, "view_lfs")
        return Response(LFOutput(lf).data)

    @extend_schema(
        request=LFUpdateInput,
        responses={200: LFOutput, 409: LFConflictOutput},
        summary="Rename, (de)activate or redefine; a new kind, label or config makes a new version",
        description=(
            "Send the `version` number you last saw so that a version saved since, in another tab or by "
            "another script, is never replaced unseen: the answer is then 409 naming the current version, and "
            "nothing changes. Only the version number is checked (a rename or a switch on or off makes no "
            "version). A request without `version` changes the LF whatever is stored (last write wins), as "
            "before."
        ),
    )
    def patch(self, request, pk: int):
        lf = _live_lf(request.user, pk, "edit_lfs")
        data = valid_input(LFUpdateInput, request.data)
        seen = data.pop("version", None)
        try:
            services.update_lf(lf=lf, user=request.user, seen_version=seen, **data)
        except services.LFConflict as exc:
            body = {
                "message": exc.message,
                "field": "version",
                "code": "lf_conflict",
                "version": exc.current_version,
                "current": LFOutput(_lf_list(lf.project).get(pk=lf.pk)).data,
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(LFOutput(_lf_list(lf.project).get(pk=lf.pk)).data)

    @extend_schema(responses={204: None}, summary="Delete (past runs keep naming it)")
    def delete(self, request, pk: int):
        lf = _live_lf(request.user, pk, "edit_lfs")
        services.delete_lf(lf=lf, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LFPreviewApi(APIView):
    @extend_schema(
        request=PreviewInput,
        responses=PreviewOutput,
        summary="An unsaved LF's coverage, accuracy on gold, conflicts and a few samples it votes on",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "edit_lfs")
        data = valid_input(PreviewInput, request.data)
        exclude = None
        if data.get("lf") is not None:
            exclude = _lf_list(project).filter(pk=data["lf"]).first()
            if exclude is None:
                raise ServiceError(
                    f"there is no labeling function with id {data['lf']} in this project", "lf"
                )
        result = services.preview_lf(
            project=project, kind=data["kind"], label=data["label"], config=data["config"], exclude_lf=exclude
        )
        return Response(PreviewOutput(result).data)


class RunListApi(APIView):
    pagination_class = Pages

    @extend_schema(
        responses=RunSummaryOutput(many=True),
        summary="The project's label-model runs, newest first, with their metrics",
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_dashboard")
        runs = (
            LabelModelRun.objects.filter(project=project)
            .select_related("project")
            .order_by("-created_at", "-id")
        )
        return paginated(
            self,
            runs.defer(
                "probabilities",
                "predictions",
                "lf_stats",
                "conflict_rows",
                # Per-run JSON of 25,000 votes (conflict_detail) or m x m shares: not in the summary.
                "conflict_detail",
                "conflict_matrix",
                "overlap_matrix",
            ),
            RunSummaryOutput,
        )

    @extend_schema(
        request=None,
        responses={202: RunOutput},
        summary="Refit the label model now (joins a refit that is already queued)",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "run_refit")
        run = services.request_refit(project=project, user=request.user, force=True)
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailApi(APIView):
    @extend_schema(
        responses=RunOutput, summary="A run: status, progress, metrics per split, per-LF statistics"
    )
    def get(self, request, pk: int):
        run = (
            LabelModelRun.objects.select_related("project")
            .defer("probabilities", "predictions")
            .filter(pk=pk)
            .first()
        )
        if run is None or role_of(request.user, run.project) is None:
            raise Http404("No such run.")  # the same answer whether it exists or not
        check(request.user, "view_dashboard", run.project)
        return Response(RunOutput(run).data)


class LatestRunApi(APIView):
    @extend_schema(responses=RunOutput, summary="The newest run that finished")
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_dashboard")
        run = export.latest_run(project)
        if run is None:
            raise NotFound(
                "no label-model run has finished in this project yet; write a labeling function "
                "(POST /api/projects/{id}/lfs/) and its refit will follow"
            )
        return Response(RunOutput(run).data)


class _FormatIsTheFileFormat(DefaultContentNegotiation):
    """Here `?format=` picks the export's file format, not one of DRF's renderers; errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportApi(APIView):
    content_negotiation_class = _FormatIsTheFileFormat

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(export.FORMATS), required=True),
            OpenApiParameter("split", str, enum=["train", "dev", "test"], description="Only this split"),
            OpenApiParameter("only_informative", bool, description="Only samples with a non-tie prediction"),
            OpenApiParameter("only_gold", bool, description="Only samples with an agreed hand label"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
        },
        summary="Download the latest finished run's predicted labels and probabilities, with the hand labels",
        description=(
            "Every sample with its fields, split and hand labels, beside the latest finished label-model run's "
            "predicted label, probability per class and confidence. Before any run has finished the export is "
            "made all the same, with the prediction columns empty: the answer then has no X-Chorus-Run header "
            "but an X-Chorus-Notice saying so, and only_informative is refused (no sample has a prediction)."
        ),
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "export")
        return export.export_response(project, request.query_params.get("format"), request.query_params)
