# RPA Dashboard image: one image for web, worker, scheduler, migrate and the RPA simulator
# (docker-compose.yml picks the command). Front-end files come from the npm registry in a
# build stage, exactly as `make assets` does; nothing is fetched from a CDN at run time.

FROM node:22-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/vendor_assets.sh scripts/
RUN mkdir -p apps/static && bash scripts/vendor_assets.sh

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    FLASK_APP=apps:create_app \
    FATURAS_DIR=/data/faturas
WORKDIR /app
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY --chown=app:app . .
COPY --from=assets --chown=app:app /src/apps/static/vendor apps/static/vendor
# Named volumes start as a copy of these directories, so they belong to `app` too.
RUN mkdir -p /app/instance /data/faturas && chown app:app /app/instance /data/faturas
USER app
EXPOSE 5050 8000
# The web server. gunicorn-cfg.py turns on /metrics' multiprocess mode: PROMETHEUS_MULTIPROC_DIR
# if given (docker-compose.yml gives a tmpfs), else a directory it makes on /dev/shm per run, set
# before any worker imports prometheus_client. Worker and scheduler commands come from compose,
# which also restarts them (`restart: unless-stopped`) and runs RQ_WORKERS worker replicas.
CMD ["gunicorn", "-c", "gunicorn-cfg.py"]
