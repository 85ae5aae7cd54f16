"""Make sure a site admin exists, so a fresh Chorus can be signed in to.

With DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD set, that account is created (or its password
set). Otherwise, when no site admin exists, one named "admin" is made with a random password, which is
printed and kept in the data directory (readable only by its owner) so the next start can print it again.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the site admin account if there is none, and say how to sign in."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if username and password:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "is_staff": True,
                    "is_superuser": True,
                    "email": os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
                },
            )
            if created or not user.check_password(password):
                user.set_password(password)
                user.is_staff = user.is_superuser = True
                user.save()
            self.stdout.write(f"Sign in as {username!r} with the password from DJANGO_SUPERUSER_PASSWORD.")
            return
        keep = settings.DATA_DIR / "admin-password.txt"
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "", password)
            settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
            keep.write_text(password + "\n")
            keep.chmod(0o600)
        admin = User.objects.filter(is_superuser=True).order_by("id").first()
        if admin.username == "admin" and keep.exists() and admin.check_password(keep.read_text().strip()):
            self.stdout.write(
                self.style.SUCCESS(f"Sign in as 'admin' with password {keep.read_text().strip()!r}")
                + f" (kept in {keep}; change it with: python manage.py changepassword admin)"
            )
        else:
            self.stdout.write(f"Sign in as the site admin {admin.username!r}.")
