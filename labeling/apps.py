from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Programmatic labeling"

    def ready(self):
        from . import receivers  # noqa: F401  (connects to projects' signals)
