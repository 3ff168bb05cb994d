# One image for worker, indexer, api, ui and the CPU generator. CPU torch only.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake tesseract-ocr poppler-utils libmagic1 libgl1 libglib2.0-0 \
        libreoffice-writer-nogui libreoffice-impress-nogui \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -c constraints.txt . \
    && pip uninstall -y torchvision torchaudio torchcodec || true
ENV ASKDOCS_DATA_DIR=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1
# Every process runs as askdocs, not root; the data volume (secret.key, catalog, originals) is its
# alone. A parse child then keeps this user (only root can give it one of its own) and gets a
# network namespace only where the container may make a user namespace (Docker's default seccomp
# profile refuses it): the worker logs what is missing. Its resource limits always apply.
RUN useradd --system --create-home --home-dir /home/askdocs --uid 10001 --user-group askdocs \
    && mkdir -p /data && chown askdocs:askdocs /data && chmod 700 /data
USER askdocs
VOLUME /data
