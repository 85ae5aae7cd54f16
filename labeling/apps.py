from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Programmatic labeling"

    def ready(self):
        from . import queue_orders, receivers  # noqa: F401  (receivers connects to projects' signals)

        # The queue's least-confident, conflicts-first and uncovered-first orders read labeling's runs.
        queue_orders.register()
