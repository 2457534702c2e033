# promoplan: a slim image running as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PROMOPLAN_DATABASE_URL=sqlite:////data/promoplan.db

RUN useradd --create-home --uid 10001 promoplan \
    && mkdir -p /data && chown promoplan:promoplan /data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install .

USER promoplan
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

CMD ["promoplan", "serve", "--host", "0.0.0.0", "--port", "8000"]
