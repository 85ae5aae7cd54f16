"""Run Chorus on one machine: the web server and one Celery worker together; stopping this stops both."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the web app (gunicorn) and run a Celery worker beside it until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))

    def handle(self, *args, host, port, web_workers, **options):
        python = sys.executable
        web = [
            python,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(web_workers),
            "--threads",
            "4",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
        ]
        worker = [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "-c",
            "2",
            "--without-gossip",
            "--without-mingle",
        ]
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # The file-system transport has no fan-out exchange for remote control; it is not needed here.
            worker.append("--without-heartbeat")
        # WhiteNoise warns at every start when STATIC_ROOT is missing; the files come from the finders here.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # Nothing runs before this worker on one machine: what is marked running was lost with the last one.
            call_command("recover_jobs")
        procs = [subprocess.Popen(cmd, start_new_session=True) for cmd in (web, worker)]
        self.stdout.write(
            self.style.SUCCESS(
                f"Chorus is at http://{host}:{port}/  (Ctrl-C stops the web server and worker)"
            )
        )
        self.stdout.flush()  # seen at once even when the output goes to a file or a pipe
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            # SIGTERM to gunicorn's and Celery's main process only: each then stops its own children cleanly
            # (signalling the whole group killed Celery's pool under it and slowed its warm shutdown).
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            deadline = time.monotonic() + 20
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                # Whatever is left in the process group (a stuck main process or an orphaned child) is killed.
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        dead = [p for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
        if dead and not stopping:
            raise SystemExit(f"a process stopped unexpectedly (exit {dead[0].returncode}); Chorus stopped")
