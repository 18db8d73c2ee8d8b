# A slim image that runs `hitmachine serve` (and, with another command, `init`, the key
# service or any other `hitmachine` command). Build: docker build -t hitmachine .
# Run:  docker run -v hm:/var/lib/hitmachine hitmachine init
#       docker run -v hm:/var/lib/hitmachine -p 8000:8000 hitmachine
# Without settings it keeps SQLite and keys in /var/lib/hitmachine (the working directory).
# For PostgreSQL set HITMACHINE_DATABASE_URL=postgresql+psycopg://user@host/db, or put the
# URL in a file and set HITMACHINE_DATABASE_URL_FILE. With PostgreSQL, Redis and the key
# service: deploy/compose.yaml and docs/deploy.md.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hitmachine ./hitmachine
COPY hitmachine_adapter ./hitmachine_adapter
COPY hitmachine_keyservice ./hitmachine_keyservice
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# libsodium: the blind (OPRF) pseudonym scheme's group arithmetic. A fixed uid and gid (10001),
# so that secret files on the host can be given to this user (docs/deploy.md). keys/ exists
# in the image, 0700, so a new volume mounted at /var/lib/hitmachine starts out private.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsodium23 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hitmachine \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/hitmachine \
      --shell /usr/sbin/nologin hitmachine \
 && install -d -o hitmachine -g hitmachine -m 0700 /var/lib/hitmachine /var/lib/hitmachine/keys
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels hitmachine && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/hitmachine
# Relative defaults (hitmachine.db, keys/) land in the working directory, on the volume.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HITMACHINE_KEYS_DIR=/var/lib/hitmachine/keys
# Keys and the SQLite database live here; keep this volume's backups apart from the keys'.
VOLUME ["/var/lib/hitmachine"]
EXPOSE 8000
# Liveness only (/healthz answers while the process runs); compose checks /readyz instead.
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["hitmachine"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
