"""``signbridge cluster``: a real Airflow CeleryExecutor deployment on this machine.

PostgreSQL (metadata DB) and Redis (Celery broker) from Debian packages, the Airflow scheduler,
DAG processor, API server and triggerer, and Celery workers subscribed to the DAG's queues, all
bound to 127.0.0.1 under ``$SIGNBRIDGE_HOME/cluster`` and stopped by PID. ``signbridge process
--executor celery`` submits runs to it (or to any Airflow given by URL and credentials) through
Airflow's REST API. The same environment variables let workers on other hosts join
(docs/deployment.md).
"""
