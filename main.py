"""The Celery application, as in the seed: ``celery -A main worker``."""

import os

from celery import Celery

app = Celery(
    'route_check',
    include=['add_task', 'check_worker'],
    broker=os.environ.get('BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
)
app.config_from_object('celeryconfig')
