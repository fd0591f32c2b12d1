"""Airflow-side orchestration: task callables, the embedded ``process`` run, and the HTML run report.

Nothing here imports Airflow at module level except the runner that executes a DAG, so the
DAG files (which import :mod:`signbridge.orchestrate.tasks` lazily, inside tasks) parse fast.
"""
