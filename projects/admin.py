from django.contrib import admin

from . import deletion
from .models import Annotation, ApiToken, AuditEvent, ImportJob, Invitation, Membership, Project, Sample


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    # Through the service, so the project's files go too and the deletion is in the audit log.
    def delete_model(self, request, obj):
        deletion.delete_project(project=obj, user=request.user, confirm=obj.name)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            deletion.delete_project(project=project, user=request.user, confirm=project.name)


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


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["project", "role", "email", "created_by", "expires_at", "accepted_by", "revoked_at"]
    raw_id_fields = ["project", "created_by", "accepted_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Site admins can see and delete (revoke) anyone's tokens; keys are made by their owners only."""

    list_display = ["user", "name", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "prefix", "digest", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The log is written by the services only: read here, never edited."""

    list_display = ["at", "project", "actor", "action", "target_type", "target_label"]
    list_filter = ["action"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
