"""Signals projects sends so that apps built on it (labeling) can react without projects importing them.

Receivers must only call a service; no business logic lives in a receiver.
"""

from django.dispatch import Signal

# Sent after an import's transaction commits: project, first_row, count.
samples_imported = Signal()
# Sent after commit when a sample's gold label may have changed: project, sample_ids.
gold_changed = Signal()
# Sent after an import updated existing samples' text or fields (on_duplicate=update): project, sample_ids.
samples_changed = Signal()
# Sent after commit when classes were appended to a project's label set: project, added (their names). A run
# made before has fewer classes than the project; labeling asks for a refit.
classes_added = Signal()
# Sent inside the transaction of a class rename: project, index, old, new. A receiver rewrites what it stored
# by class name and may return a list of notes for the person who renamed it (projects.classes).
class_renamed = Signal()
# Sent inside the transaction of a project's deletion, before its rows go: project. A receiver counts what it
# stores for the project (returning {what: count}) and arranges, with transaction.on_commit, to remove the
# project's files it keeps, so a deletion that rolls back leaves them (projects.deletion).
project_deleting = Signal()
