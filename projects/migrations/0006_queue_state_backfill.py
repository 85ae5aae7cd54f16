"""Fill the queue state (hand label count, queued, disputed) of samples labeled before it existed."""

from django.db import migrations
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Sample = apps.get_model("projects", "Sample")
    Annotation = apps.get_model("projects", "Annotation")

    def count(qs):
        counted = qs.order_by().values("sample").annotate(n=Count("label", distinct=True)).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    labeled = Annotation.objects.filter(sample=OuterRef("pk"), label__isnull=False)
    hand = labeled.filter(source="human").order_by().values("sample").annotate(n=Count("id")).values("n")
    Sample.objects.update(hand_labels=Coalesce(Subquery(hand, output_field=IntegerField()), 0))
    Project = apps.get_model("projects", "Project")
    for project in Project.objects.only("pk", "overlap"):
        Sample.objects.filter(project=project, hand_labels__gte=project.overlap).update(queued=False)
    disputed = Sample.objects.annotate(kinds=count(labeled)).filter(kinds__gt=1).values("pk")
    Sample.objects.filter(pk__in=Subquery(disputed)).update(disputed=True)


class Migration(migrations.Migration):
    dependencies = [("projects", "0005_import_duplicates")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
