# SignBridge GPU inference worker, AMD ROCm (MI300X): Celery queue `gpu` (recognize + compose).
# Same as gpu-cuda.Dockerfile on AMD's vLLM image: torch's `cuda` device is HIP on ROCm, so the
# recogniser's device code is unchanged; vLLM runs Llama-3.1-8B for the composer on the MI300X.
#
#   docker build -f containers/gpu-rocm.Dockerfile -t signbridge/gpu-rocm:0.1.0 .
#
# Run with the ROCm devices: --device /dev/kfd --device /dev/dri --group-add video (compose/K8s:
# the AMD device plugin's amd.com/gpu resource).
ARG VLLM_IMAGE=rocm/vllm:latest
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
 && python -c "import torch, vllm, signbridge.recognize, signbridge.compose, airflow.providers.celery; print(torch.__version__, torch.version.hip)"
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["celery", "worker", "--queues", "gpu", "--concurrency", "1"]
