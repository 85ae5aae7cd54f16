"""Reactions to projects' signals; each receiver only calls a service."""

from django.dispatch import receiver

from projects.signals import (
    class_renamed,
    classes_added,
    gold_changed,
    project_deleting,
    samples_changed,
    samples_imported,
)

from . import classes, deletion, services


@receiver(samples_imported)
def on_samples_imported(sender, project, first_row=0, count=0, **kwargs):
    services.samples_added(project, first_row, count)


@receiver(samples_changed)
def on_samples_changed(sender, project, **kwargs):
    services.samples_changed(project)


@receiver(gold_changed)
def on_gold_changed(sender, project, **kwargs):
    # Gold changes the scores, not the votes: a refit (coalesced with any queued one) is enough.
    services.request_refit(project=project)


@receiver(classes_added)
def on_classes_added(sender, project, **kwargs):
    # The latest run knows fewer classes than the project now: refit (only if there is something to fit).
    services.request_refit(project=project)


@receiver(class_renamed)
def on_class_renamed(sender, project, old, new, **kwargs):
    return classes.class_renamed(project, old, new)


@receiver(project_deleting)
def on_project_deleting(sender, project, **kwargs):
    return deletion.project_deleting(project)
