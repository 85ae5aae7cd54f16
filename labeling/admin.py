from django.contrib import admin

from .models import LabelingFunction, LabelModelRun, LFVersion


@admin.register(LabelingFunction)
class LabelingFunctionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "active", "created_at", "deleted_at"]
    list_filter = ["active"]


@admin.register(LFVersion)
class LFVersionAdmin(admin.ModelAdmin):
    list_display = ["lf", "number", "kind", "status", "coverage", "created_at"]
    exclude = ["votes"]


@admin.register(LabelModelRun)
class LabelModelRunAdmin(admin.ModelAdmin):
    list_display = ["project", "status", "coverage", "created_at", "finished_at"]
    exclude = ["probabilities", "predictions"]
