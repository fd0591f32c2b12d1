"""Airflow cluster policy for KubernetesExecutor: give each SignBridge task the pod it needs.

The DAG files only name a queue (``default``, ``extract``, ``gpu``, ``tts``) and the ``gpu`` pool,
so they stay wiring-only and work unchanged on CeleryExecutor. On Kubernetes this policy (mounted
as ``$AIRFLOW_HOME/config/airflow_local_settings.py`` or on PYTHONPATH) turns the queue into a
``pod_override``: the image, CPU/memory requests, and a GPU for the ``gpu`` queue. Set
``SIGNBRIDGE_GPU_RESOURCE=amd.com/gpu`` for MI300X nodes (default ``nvidia.com/gpu``).
"""
from __future__ import annotations

import os

TAG = os.environ.get("SIGNBRIDGE_TAG", "0.1.0")
GPU_RESOURCE = os.environ.get("SIGNBRIDGE_GPU_RESOURCE", "nvidia.com/gpu")
GPU_IMAGE = os.environ.get("SIGNBRIDGE_GPU_IMAGE",
                           f"signbridge/gpu-{'rocm' if GPU_RESOURCE.startswith('amd') else 'cuda'}:{TAG}")

# queue -> (image, requests, limits)
PODS = {
    "default": (f"signbridge/airflow-cpu:{TAG}", {"cpu": "500m", "memory": "1Gi"}, {"memory": "2Gi"}),
    "extract": (f"signbridge/airflow-cpu:{TAG}", {"cpu": "2", "memory": "3Gi"}, {"memory": "6Gi"}),
    "tts": (f"signbridge/tts:{TAG}", {"cpu": "2", "memory": "2Gi"}, {"memory": "4Gi"}),
    "gpu": (GPU_IMAGE, {"cpu": "4", "memory": "24Gi"}, {"memory": "48Gi", GPU_RESOURCE: "1"}),
}


def _pod(queue: str):
    from kubernetes.client import models as k8s

    image, requests, limits = PODS[queue]
    tolerations = [k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")] if queue == "gpu" else None
    return k8s.V1Pod(spec=k8s.V1PodSpec(
        containers=[k8s.V1Container(name="base", image=image,
                                    resources=k8s.V1ResourceRequirements(requests=requests, limits=limits))],
        tolerations=tolerations))


def task_policy(task) -> None:
    if task.dag_id is None or not task.dag_id.startswith("signbridge_"):
        return
    queue = task.queue if task.queue in PODS else "default"
    if not getattr(task, "executor_config", None):
        task.executor_config = {"pod_override": _pod(queue)}
