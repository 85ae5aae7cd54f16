"""REST endpoints for projects, imports, samples and hand labels: one small view per endpoint.

Each handler opens with the access check (outsiders 404, roles lacking the action 403), calls one service
or read, and answers with an output serializer.
"""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import classes, deletion, queue, selectors, services
from .models import Annotation, ImportJob, Membership, Project, Sample, Split
from .permissions import check, project_for, role_of
from .serializers import (
    AlreadyImportedOutput,
    AnnotationInput,
    AnnotationOutput,
    ClassRenamedOutput,
    ClassRenameInput,
    ErrorOutput,
    ImportInput,
    ImportJobOutput,
    LabelConflictOutput,
    ProjectDeletedOutput,
    ProjectInput,
    ProjectOutput,
    ProjectUpdateInput,
    QueueSampleOutput,
    SampleOutput,
)
from .services import ServiceError


class Pages(LimitOffsetPagination):
    # A page is one query of at most this many rows, whatever `limit` asks for.
    max_limit = 1000


def paginated(view: APIView, queryset, serializer_class, **context) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    data = serializer_class(page, many=True, context={"request": view.request, **context}).data
    return paginator.get_paginated_response(data)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True), summary="My projects, with my role in each")
    def get(self, request):
        # The caller's role comes with each project in the one query (the list shows it on every row).
        role = Membership.objects.filter(project=OuterRef("pk"), user=request.user).values("role")[:1]
        projects = (
            Project.objects.for_user(request.user).annotate(my_role=Subquery(role)).order_by("-created_at")
        )
        return Response(ProjectOutput(projects, many=True, context={"request": request}).data)

    @extend_schema(
        request=ProjectInput, responses={201: ProjectOutput}, summary="Create a project; I become its admin"
    )
    def post(self, request):
        data = valid_input(ProjectInput, request.data)
        project = services.create_project(user=request.user, **data)
        return Response(
            ProjectOutput(project, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


# Settings of the annotation workflow, changed through their own service (a new overlap re-queues samples).
WORKFLOW_FIELDS = ("overlap", "queue_order", "blind", "skip_reasons", "check_every", "annotators_as_sources")


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutput)
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_project")
        return Response(ProjectOutput(project, context={"request": request}).data)

    @extend_schema(request=ProjectUpdateInput, responses=ProjectOutput, summary="Change a project (admins)")
    def patch(self, request, pk: int):
        project = project_for(request.user, pk, "manage_project")
        data = valid_input(ProjectUpdateInput, request.data)
        workflow = {name: data.pop(name) for name in WORKFLOW_FIELDS if name in data}
        if data:
            project = services.update_project(project=project, user=request.user, **data)
        if workflow:
            project = services.update_workflow(project=project, user=request.user, **workflow)
        return Response(ProjectOutput(project, context={"request": request}).data)

    @extend_schema(
        summary="Delete a project and everything in it (admins); cannot be undone",
        description=(
            "Deletes the project's samples, hand labels, comments, labeling functions with their versions and "
            "votes, label-model runs, imports, exports, members and invitations, and their files. "
            "`confirm` must be the project's name, given as the query parameter or in the JSON body "
            '(`{"confirm": "<name>"}`); without it, or with another name, nothing is deleted (400).'
        ),
        parameters=[
            OpenApiParameter(
                "confirm",
                str,
                description="The project's name, exactly (or send it in the body as `confirm`).",
            )
        ],
        request=None,
        responses={200: ProjectDeletedOutput, 400: ErrorOutput},
    )
    def delete(self, request, pk: int):
        project = project_for(request.user, pk, "delete_project")
        body = request.data if isinstance(request.data, dict) else {}
        confirm = body.get("confirm", request.query_params.get("confirm"))
        done = deletion.delete_project(project=project, user=request.user, confirm=confirm)
        return Response(
            ProjectDeletedOutput(
                {"id": done.project_id, "name": done.name, "deleted": done.counts, "message": done.summary()}
            ).data
        )


class ClassDetailApi(APIView):
    @extend_schema(
        request=ClassRenameInput,
        responses=ClassRenamedOutput,
        summary="Rename one class (admins); its hand labels, votes, gold and run results follow it",
    )
    def patch(self, request, pk: int, index: int):
        project = project_for(request.user, pk, "manage_project")
        data = valid_input(ClassRenameInput, request.data)
        done = classes.rename_class(project=project, index=index, name=data["name"], user=request.user)
        return Response(
            ClassRenamedOutput(
                {
                    "index": done.index,
                    "name": done.new,
                    "old_name": done.old,
                    "labels": done.project.labels,
                    "notes": done.notes,
                }
            ).data
        )


class ImportListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=ImportJobOutput(many=True), summary="The project's imports, newest first")
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "import")
        return Response(ImportJobOutput(ImportJob.objects.filter(project=project), many=True).data)

    @extend_schema(
        request={"multipart/form-data": ImportInput},
        responses={201: ImportJobOutput, 409: AlreadyImportedOutput},
        summary="Upload a file of samples; a worker imports it (all or nothing)",
        description=(
            "Without an id_field every row becomes a new sample, so a file whose content (its bytes after "
            "gzip or zip: data.csv and data.csv.gz of the same rows are the same) was imported into the "
            "project before is refused with 409, naming that import in `earlier_import`, and nothing is stored; send "
            "import_again=true to import its rows again as new samples. With an id_field the ids decide "
            "(on_duplicate); on_duplicate skip or update without an id_field is refused with 400."
        ),
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "import")
        if not request.FILES.get("file"):
            raise ServiceError("choose a file to upload (the multipart field 'file')", "file")
        data = valid_input(ImportInput, request.data)
        upload = data.pop("file")
        again = data.pop("import_again")
        try:
            job = services.start_import(
                project=project, user=request.user, upload=upload, options=data, import_again=again
            )
        except services.AlreadyImported as exc:
            body = {
                "message": f"{exc.message}; send import_again=true to import its rows again as new samples",
                "field": "file",
                "code": "already_imported",
                "earlier_import": exc.earlier.pk,
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(ImportJobOutput(job).data, status=status.HTTP_201_CREATED)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportJobOutput, summary="An import's status, progress, counts and errors")
    def get(self, request, pk: int):
        job = ImportJob.objects.select_related("project").filter(pk=pk).first()
        if job is None or role_of(request.user, job.project) is None:
            raise Http404("No such import.")  # the same answer whether it exists or not
        check(request.user, "import", job.project)
        return Response(ImportJobOutput(job).data)


class SampleListApi(APIView):
    pagination_class = Pages

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=Split.values, description="Only samples of this split"),
        ],
        responses=SampleOutput(many=True),
        summary="The project's samples in row order, with gold labels (admins, developers, reviewers)",
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_samples")
        samples = Sample.objects.for_project(project).order_by("row")
        split = request.query_params.get("split")
        if split:
            if split not in Split.values:
                raise ServiceError(
                    f"unknown split {split!r}; choose one of {', '.join(Split.values)}", "split"
                )
            samples = samples.filter(split=split)
        return paginated(self, samples, SampleOutput, project=project)


class AnnotationListApi(APIView):
    pagination_class = Pages
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        responses=AnnotationOutput(many=True),
        summary="My hand labels in this project, latest first",
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "label")
        mine = (
            Annotation.objects.filter(project=project, annotator=request.user)
            .select_related("sample", "project", "annotator")
            .order_by("-updated_at", "-id")
        )
        return paginated(self, mine, AnnotationOutput)

    @extend_schema(
        request=AnnotationInput,
        responses={201: AnnotationOutput, 409: LabelConflictOutput},
        summary="Label a sample (or change my label on it); with `version`, only if it is still the one I saw",
        description=(
            "Send the `version` of the label you last saw (null for none) so that a label changed since, in "
            "another tab or by another script, is never replaced unseen: the answer is then 409 with the "
            "stored label in `current`, and nothing changes. A request without `version` saves whatever is "
            "stored (last write wins), as before versions existed."
        ),
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "label")
        data = valid_input(AnnotationInput, request.data)
        sample = _sample_in(project, data["sample"])
        label = _label_index(project, data["label"])
        # Left out: not checked (documented). null and "" both mean "I saw no label".
        expected = (data["version"] or "") if "version" in data else services.UNCHECKED
        try:
            annotation = services.annotate(
                project=project,
                sample=sample,
                user=request.user,
                label=label,
                reason=data.get("reason", ""),
                expected=expected,
            )
        except services.LabelConflict as exc:
            current = AnnotationOutput(exc.current).data if exc.current is not None else None
            body = {"message": exc.message, "field": "version", "code": "label_conflict", "current": current}
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(AnnotationOutput(annotation).data, status=status.HTTP_201_CREATED)


class QueueNextApi(APIView):
    @extend_schema(
        request=None,
        responses={200: QueueSampleOutput, 204: None},
        summary="Claim my next sample from the queue (204 when nothing is left for me)",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "label")
        sample = queue.claim_next(project, request.user)
        if sample is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        context = {}
        if not project.blind:
            context = {
                "others": selectors.others_labels(project, request.user, sample),
                "predicted": queue.predicted_label(project, sample),
            }
        return Response(QueueSampleOutput(sample, context=context).data)


def valid_input(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _sample_in(project: Project, ref) -> Sample:
    """A number is the sample's id, a string its external id (external ids are often digits too)."""
    lookup = {"pk": ref} if isinstance(ref, int) else {"external_id": ref}
    sample = Sample.objects.filter(project=project, **lookup).first()
    if sample is None:
        what = f"id {ref}" if isinstance(ref, int) else f"external id {ref!r}"
        raise ServiceError(f"there is no sample with {what} in this project", "sample")
    return sample


def _label_index(project: Project, name: str | None) -> int | None:
    if name is None:
        return None
    index = project.label_index(name)
    if index is None:
        raise ServiceError(
            f"label {name!r} is not one of the project's classes: {', '.join(project.labels)}", "label"
        )
    return index
