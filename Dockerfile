# helao-chat: one image for the web (Daphne), worker, beat and migrate services.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HELAO_VAR_DIR=/app/var \
    CHAT_TOMBSTONE_DIR=/app/tombstones

# The services run as this unprivileged user; the code itself stays owned by root, read-only.
RUN groupadd --system --gid 10001 helao \
    && useradd --system --uid 10001 --gid helao --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin helao

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .

# Static files are collected into the image (whitenoise serves them from here; the migrate
# service copies them into the volume nginx serves). Production settings refuse to load without
# a real secret, so this one step gets a throwaway random key that is never stored in the image.
RUN DJANGO_DEBUG=0 \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    python manage.py collectstatic --noinput -v0 \
    && python -m compileall -q . \
    && mkdir -p /app/var /app/tombstones \
    && chown -R helao:helao /app/staticfiles /app/var /app/tombstones

USER helao:helao
EXPOSE 8000

# Its limits and timeouts are helao_chat.serve's own (DEFAULT_FLAGS, docs/deployment.md).
CMD ["python", "-m", "helao_chat.serve", "-b", "0.0.0.0", "-p", "8000", \
     "--access-log", "/dev/null", "helao_chat.asgi:application"]
