"""Reactions to projects' signals; each receiver only calls a service."""

from django.dispatch import receiver

from projects.signals import gold_changed, samples_imported

from . import services


@receiver(samples_imported)
def on_samples_imported(sender, project, **kwargs):
    services.samples_added(project)


@receiver(gold_changed)
def on_gold_changed(sender, project, **kwargs):
    # Gold changes the scores, not the votes: a refit (coalesced with any queued one) is enough.
    services.request_refit(project=project)
