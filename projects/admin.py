from django.contrib import admin

from .models import Annotation, ImportJob, Membership, Project, Sample


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ["project", "row", "external_id", "split", "gold_label"]
    list_filter = ["split"]
    raw_id_fields = ["project"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["sample", "annotator", "label", "source", "updated_at"]
    raw_id_fields = ["sample", "project", "annotator"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["project", "filename", "status", "imported", "created_at"]
    readonly_fields = ["errors"]
