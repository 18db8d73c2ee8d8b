# A slim image that runs `hitmachine serve`. Build: docker build -t hitmachine .
# Run:  docker run -v hm:/var/lib/hitmachine hitmachine init
#       docker run -v hm:/var/lib/hitmachine -p 8000:8000 hitmachine
# For PostgreSQL set HITMACHINE_DATABASE_URL=postgresql+psycopg://user@host/db.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hitmachine ./hitmachine
COPY adapters ./adapters
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# libsodium: the blind (OPRF) pseudonym scheme's group arithmetic.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsodium23 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/hitmachine hitmachine
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels hitmachine && rm -rf /wheels
USER hitmachine
WORKDIR /var/lib/hitmachine
ENV PYTHONUNBUFFERED=1 \
    HITMACHINE_KEYS_DIR=/var/lib/hitmachine/keys \
    HITMACHINE_DATABASE_URL=sqlite:////var/lib/hitmachine/hitmachine.db
# Keys and the SQLite database live here; keep this volume's backups apart from the keys'.
VOLUME ["/var/lib/hitmachine"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
ENTRYPOINT ["hitmachine"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
