# One image for the worker, the CLI and the sinks: `docker build -t stockstream .`
# (docker-compose.yml and the Helm chart run it). Every dependency ships a manylinux wheel
# for CPython 3.11 (rocksdict and confluent-kafka bundle their C libraries), so neither stage
# needs a compiler.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY README.md ./
COPY schemas ./schemas
COPY streams ./streams
COPY tables ./tables
COPY agents ./agents
# Not editable: the venv holds the code, the sources stay in this stage.
RUN pip install --no-deps . \
    && pip check

FROM python:3.11-slim
# A fixed numeric UID: Kubernetes' runAsNonRoot can check it, volumes can be chowned to it.
RUN groupadd --system --gid 10001 stockstream \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/stockstream \
        --shell /usr/sbin/nologin stockstream \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/stockstream
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STOCKSTREAM_WEB_BIND=0.0.0.0 \
    STOCKSTREAM_DATA_DIR=/var/lib/stockstream
WORKDIR /var/lib/stockstream
USER 10001:10001
EXPOSE 6066
# 200 once the worker's tables are recovered and its group is stable (GET /health); a sink or
# a one-shot CLI run in this image sets a check of its own or none.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('STOCKSTREAM_WEB_PORT', '6066'), timeout=4)"]
ENTRYPOINT ["stockstream"]
CMD ["worker"]
