# The image for Chorus's web server and worker (docker-compose.yml runs both from it).

# The front-end assets come from package-lock.json, exactly as scripts/build_static.sh gets them locally.
FROM node:20-slim AS static
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
# PYTHONPATH: the templates and static files live beside the code in /app, not in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    CHORUS_DATA_DIR=/data \
    MEDIA_ROOT=/data/media \
    STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY . .
COPY --from=static /build/node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
RUN pip install . \
    && SECRET_KEY=collectstatic-only CHORUS_DATA_DIR=/tmp/build python manage.py collectstatic --noinput \
    && rm -rf /tmp/build \
    && useradd --system --create-home --uid 1000 chorus \
    && mkdir -p /data/media && chown -R chorus /data
USER chorus
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
