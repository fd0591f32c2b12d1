# SignBridge GPU inference worker, NVIDIA CUDA: Celery queue `gpu` (recognize + compose, pool `gpu`).
# Recognition runs on the image's CUDA torch (SIGNBRIDGE_DEVICE=auto picks it); the composer uses
# vLLM in-process (SIGNBRIDGE_COMPOSER=vllm, SIGNBRIDGE_LLM_MODEL=<mounted model dir>), or a
# separate `vllm serve` when SIGNBRIDGE_LLM_URL is set.
#
#   docker build -f containers/gpu-cuda.Dockerfile -t signbridge/gpu-cuda:0.1.0 .
#
# The vLLM image brings its own torch/CUDA; SignBridge is installed without dependencies and only what
# the GPU stages and the Airflow worker import is added on top (no MediaPipe: no extraction here).
ARG VLLM_IMAGE=vllm/vllm-openai:v0.11.0
FROM ${VLLM_IMAGE}

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 AIRFLOW_HOME=/opt/airflow SIGNBRIDGE_HOME=/var/lib/signbridge \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags SIGNBRIDGE_DAGS_FOLDER=/opt/airflow/dags \
    SIGNBRIDGE_DEVICE=auto SIGNBRIDGE_COMPOSER=vllm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg tini && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/signbridge
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY signbridge ./signbridge
COPY dags /opt/airflow/dags
COPY containers/gpu-requirements.txt /tmp/gpu-requirements.txt
RUN python -m pip install --no-deps -e . \
 && python -m pip install -r /tmp/gpu-requirements.txt \
 && python -c "import torch, vllm, signbridge.recognize, signbridge.compose, airflow.providers.celery; print(torch.__version__, torch.version.cuda)"
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["celery", "worker", "--queues", "gpu", "--concurrency", "1"]
