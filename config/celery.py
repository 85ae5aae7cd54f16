"""The Celery application; tasks live in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# One BLAS thread per process, set before numpy loads: a worker process is one of several sharing the cores
# (-c N, or several workers), and BLAS threads of its own only fight the others: a label-model fit at a
# million samples ran twice as slow with them on two busy cores. CHORUS_BLAS_THREADS raises it.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, os.environ.get("CHORUS_BLAS_THREADS", "1"))

app = Celery("chorus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
