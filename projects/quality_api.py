"""REST endpoints on the quality of hand labels: agreement (everyone who reads dashboards), the quality table
per annotator and the gold checks (admins, reviewers read them), excluding an annotator's labels and marking
or unmarking gold checks (admins).

    GET             /api/projects/{id}/agreement/
    GET             /api/projects/{id}/quality/
    POST, DELETE    /api/projects/{id}/annotators/{user_id}/exclusion/   exclude / count again
    GET, POST       /api/projects/{id}/checks/                           list / mark samples as checks
    GET, DELETE     /api/projects/{id}/checks/{sample_id}/               one / unmark it
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import checks, quality
from .api import Pages, paginated, valid_input
from .models import Annotation, Sample
from .permissions import project_for
from .serializers import SampleRefField
from .services import ServiceError


class PairOutput(serializers.Serializer):
    annotator_a = serializers.CharField()
    annotator_b = serializers.CharField()
    n_items = serializers.IntegerField(help_text="Samples both labeled.")
    percent_agreement = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa; null when undefined.")


class AgreementOutput(serializers.Serializer):
    annotators = serializers.IntegerField(help_text="Annotators whose labels count.")
    n_items = serializers.IntegerField(help_text="Samples labeled by at least two of them.")
    n_labels = serializers.IntegerField(help_text="Labels on those samples.")
    labels_per_item = serializers.IntegerField(allow_null=True, help_text="Null when it varies.")
    percent_agreement = serializers.FloatField(allow_null=True)
    fleiss_kappa = serializers.FloatField(allow_null=True, help_text="Null when labels per sample vary.")
    krippendorff_alpha = serializers.FloatField(allow_null=True, help_text="Nominal.")
    pairs = PairOutput(many=True)


class QualityOutput(serializers.Serializer):
    annotator_id = serializers.IntegerField()
    annotator = serializers.CharField()
    labeled = serializers.IntegerField()
    skipped = serializers.IntegerField()
    checks_answered = serializers.IntegerField()
    checks_correct = serializers.IntegerField()
    check_accuracy = serializers.FloatField(allow_null=True)
    check_kappa = serializers.FloatField(
        allow_null=True, help_text="Cohen's kappa against the known answers."
    )
    shared_with_others = serializers.IntegerField(help_text="Pairs of labels shared with counted annotators.")
    agreeing_with_others = serializers.IntegerField()
    agreement_with_others = serializers.FloatField(allow_null=True)
    excluded = serializers.BooleanField()


class AgreementApi(APIView):
    @extend_schema(responses=AgreementOutput, summary="Agreement between the project's annotators")
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_dashboard")
        return Response(AgreementOutput(quality.project_agreement(project)).data)


class QualityApi(APIView):
    @extend_schema(
        responses=QualityOutput(many=True),
        summary="Each annotator's labels, accuracy on gold checks and agreement with the others",
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_quality")
        return Response(QualityOutput(quality.annotator_quality(project), many=True).data)


class ExclusionApi(APIView):
    def _annotator(self, project, user_id: int):
        annotator = get_user_model().objects.filter(pk=user_id).first()
        if annotator is None or not Annotation.objects.filter(project=project, annotator=annotator).exists():
            raise Http404("Nobody of that id has labeled in this project.")
        return annotator

    @extend_schema(request=None, responses={201: QualityOutput}, summary="Exclude an annotator's labels")
    def post(self, request, pk: int, user_id: int):
        project = project_for(request.user, pk, "manage_project")
        annotator = self._annotator(project, user_id)
        checks.exclude_annotator(project=project, annotator=annotator, by=request.user)
        row = next(q for q in quality.annotator_quality(project) if q["annotator_id"] == annotator.pk)
        return Response(QualityOutput(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, summary="Count an excluded annotator's labels again")
    def delete(self, request, pk: int, user_id: int):
        project = project_for(request.user, pk, "manage_project")
        annotator = self._annotator(project, user_id)
        if not checks.include_annotator(project=project, annotator=annotator, by=request.user):
            raise ServiceError(f"{annotator.username}'s labels are not excluded", "annotator")
        return Response(status=status.HTTP_204_NO_CONTENT)


class CheckOutput(serializers.ModelSerializer):
    label = serializers.SerializerMethodField(help_text="The known answer's class name.")

    class Meta:
        model = Sample
        fields = ["id", "row", "external_id", "label"]

    def get_label(self, sample: Sample) -> str | None:
        return self.context["project"].label_name(sample.check_label)


class CheckItem(serializers.Serializer):
    sample = SampleRefField(help_text="The sample's id (a number) or its external id (a string).")
    label = serializers.CharField(
        required=False, allow_null=True, default=None, help_text="The known answer; default its gold label."
    )


class CheckInput(serializers.Serializer):
    samples = CheckItem(many=True, allow_empty=False)


# Bad items a refused request names one by one (the count is always given).
MAX_PROBLEMS_SHOWN = 20


def _sample_in(project, ref) -> Sample:
    lookup = {"pk": ref} if isinstance(ref, int) else {"external_id": ref}
    sample = Sample.objects.filter(project=project, **lookup).first()
    if sample is None:
        what = f"id {ref}" if isinstance(ref, int) else f"external id {ref!r}"
        raise ServiceError(f"there is no sample with {what} in this project", "samples")
    return sample


class CheckListApi(APIView):
    pagination_class = Pages

    @extend_schema(responses=CheckOutput(many=True), summary="The project's gold checks in row order")
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "view_checks")
        found = Sample.objects.filter(project=project, check_label__isnull=False).order_by("row")
        return paginated(self, found, CheckOutput, project=project)

    @extend_schema(
        request=CheckInput,
        responses={201: inline_serializer("CheckMarked", {"marked": serializers.IntegerField()})},
        summary="Make samples gold checks (all or nothing)",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "manage_project")
        data = valid_input(CheckInput, request.data)
        items, problems = [], []
        # Every bad item is named at once (as the form names every bad line), and nothing is marked.
        for position, item in enumerate(data["samples"]):
            label = item.get("label")
            index = None
            try:
                if label is not None:
                    index = project.label_index(label)
                    if index is None:
                        raise ServiceError(
                            f"label {label!r} is not one of the project's classes: {', '.join(project.labels)}",
                            "label",
                        )
                sample = _sample_in(project, item["sample"])
                problem = checks.check_problem(project, sample, index)
                if problem is not None:
                    raise ServiceError(*problem)
            except ServiceError as e:
                problems.append((position, e))
                continue
            items.append((sample, index))
        if problems:
            shown = "; ".join(f"samples[{i}]: {e.message}" for i, e in problems[:MAX_PROBLEMS_SHOWN])
            more = len(problems) - MAX_PROBLEMS_SHOWN
            if more > 0:
                shown += f"; and {more} more"
            fields = {e.field for _, e in problems}
            raise ServiceError(
                f"nothing was marked: {len(problems)} of {len(data['samples'])} item(s) cannot be "
                f"gold checks — {shown}",
                fields.pop() if len(fields) == 1 else "samples",
            )
        marked = checks.mark_checks(project=project, items=items, by=request.user)
        return Response({"marked": len(marked)}, status=status.HTTP_201_CREATED)


class CheckDetailApi(APIView):
    def _check(self, request, pk: int, sample_id: int, action: str = "view_checks"):
        project = project_for(request.user, pk, action)
        sample = Sample.objects.filter(project=project, pk=sample_id, check_label__isnull=False).first()
        if sample is None:
            raise Http404("No such gold check in this project.")
        return project, sample

    @extend_schema(responses=CheckOutput, summary="One gold check and its known answer")
    def get(self, request, pk: int, sample_id: int):
        project, sample = self._check(request, pk, sample_id)
        return Response(CheckOutput(sample, context={"project": project}).data)

    @extend_schema(request=None, responses={204: None}, summary="The sample stops being a gold check")
    def delete(self, request, pk: int, sample_id: int):
        project, sample = self._check(request, pk, sample_id, "manage_project")
        checks.unmark_checks(project=project, samples=[sample], by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
