from django.db import migrations, models


def number_runs(apps, schema_editor):
    """Existing runs are numbered in their project by creation, oldest first."""
    LabelModelRun = apps.get_model("labeling", "LabelModelRun")
    counters: dict[int, int] = {}
    for run in LabelModelRun.objects.order_by("project_id", "created_at", "id").only("id", "project_id"):
        counters[run.project_id] = counters.get(run.project_id, 0) + 1
        LabelModelRun.objects.filter(pk=run.pk).update(number=counters[run.project_id])


class Migration(migrations.Migration):
    dependencies = [("labeling", "0008_restore_jobs")]

    operations = [
        migrations.AddField(
            model_name="labelmodelrun",
            name="number",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(number_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="labelmodelrun",
            constraint=models.UniqueConstraint(fields=("project", "number"), name="run_number_unique"),
        ),
    ]
