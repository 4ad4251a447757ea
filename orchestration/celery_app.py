"""The Celery app of a ChannelHouse worker: ``celery -A orchestration.celery_app worker``
(orchestration/scaleout.py ``worker_command``).

dagster-celery's own app module (``dagster_celery.app``) with ChannelHouse's settings: the
broker from ``$CELERY_BROKER_URL`` (a tenant's vhost, set by ``scaleout.worker_env``; Celery
reads its broker when the worker starts), tasks acknowledged after the step and re-queued when
the worker is lost, so a killed worker's step runs again on another worker.
"""

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from orchestration.scaleout import BROKER_ENV, CELERY_SETTINGS

app = make_app(
    {
        "broker": os.environ.get(BROKER_ENV),
        "backend": "rpc://",
        "include": [],
        "config_source": CELERY_SETTINGS,
    }
)
execute_plan = create_task(app, acks_late=True, reject_on_worker_lost=True)
