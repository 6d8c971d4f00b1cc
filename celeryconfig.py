"""Celery 5 settings: the seed's celeryconfig under its lowercase names, plus what it lacked.

Old uppercase names (CELERY_*, CELERYD_*) cannot be mixed with these; Celery refuses the mix.
"""

import os
from multiprocessing import cpu_count

from kombu import Exchange, Queue

from routing import ADD, CHECK_MANY, HTTP_CHECK, HTTP_CHECK_NO_RESULT, QUEUE_OF, TCP_CHECK

# The defaults of BROKER_URL and RESULT_BACKEND are written here only (see scripts/env.sh).
broker_url = os.environ.get('BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//')
result_backend = os.environ.get('RESULT_BACKEND', 'redis://127.0.0.1:6379/0')
# A Sentinel-managed Redis: RESULT_BACKEND='sentinel://:pw@h1:26379/0;sentinel://:pw@h2:26379/0;...'
# and the name the Sentinels monitor it under (Celery's master_name option).
if os.environ.get('RESULT_BACKEND_MASTER_NAME'):
    result_backend_transport_options = {'master_name': os.environ['RESULT_BACKEND_MASTER_NAME']}

# QUEUE_TYPE=quorum replicates every task queue across a RabbitMQ cluster (Raft: a message is
# confirmed once a majority has it). The gateway declares from these same queues, and workers
# detect quorum queues and drop global QoS by themselves. Classic by default: one node gains nothing.
task_default_queue_type = task_create_missing_queue_type = os.environ.get('QUEUE_TYPE', 'classic')
if task_default_queue_type not in ('classic', 'quorum'):
    raise ValueError(f'QUEUE_TYPE must be classic or quorum, got {task_default_queue_type!r}')
# Classic queues get no argument at all, so they stay equivalent to those declared before.
_queue_arguments = {'x-queue-type': 'quorum'} if task_default_queue_type == 'quorum' else None

# One queue per task (the seed's advice), so a flood of one kind never delays another.
# Route checks are persistent: their exchange says so, and Celery copies that onto each message.
_route_check = Exchange('route_check', type='direct', delivery_mode='persistent')
_exchange_of = {ADD: Exchange('add'), TCP_CHECK: _route_check, HTTP_CHECK: _route_check,
                HTTP_CHECK_NO_RESULT: _route_check, CHECK_MANY: _route_check}
task_queues = (
    Queue('default', Exchange('default'), routing_key='default', queue_arguments=_queue_arguments),
    *(Queue(queue, _exchange_of[task], routing_key=queue, queue_arguments=_queue_arguments)
      for task, queue in QUEUE_OF.items()),
)
task_routes = {task: {'queue': queue} for task, queue in QUEUE_OF.items()}
task_default_queue = 'default'
task_default_exchange = 'default'
task_default_exchange_type = 'direct'
task_default_routing_key = 'default'
task_default_delivery_mode = 'persistent'

# Ack only after the task ran, and take one message at a time, so a dead worker's work is requeued.
task_acks_late = True
worker_prefetch_multiplier = 1
# Without this, a prefork child killed mid-task (OOM, kill -9) is acked as FAILURE and lost.
task_reject_on_worker_lost = True
# A late-ack task still running when the broker connection drops is redelivered anyway;
# cancelling it avoids running it twice at the same time.
worker_cancel_long_running_tasks_on_connection_loss = True
# A thread-pool worker must keep consuming after a broker reconnect: Celery would lower the
# prefetch count and raise it again from the thread that acks, and with -P threads that basic_qos
# races the consumer's own on one socket. Not lowering it costs a few prefetches
# (docs/reliability.md, scenario 3).
worker_enable_prefetch_count_reduction = False

worker_disable_rate_limits = True
# Flower's "restart pool" button needs this.
worker_pool_restarts = True
# Integer: the seed's cpu_count() / 2 is a float on Python 3. Overridden per worker with -c.
worker_concurrency = max(1, cpu_count() // 2)

timezone = 'Asia/Shanghai'
enable_utc = True

task_serializer = 'json'
result_serializer = 'json'
accept_content = ['json']
result_accept_content = ['json']
# Every result carries a TTL (the Redis backend stores it with SETEX), so Redis holds at most
# RESULT_TTL seconds of results. The gateway deletes those it delivered at once; this bounds the
# rest: results handed out as 202 + Location and never read, and those of plain Celery clients.
result_expires = int(os.environ.get('RESULT_TTL', 3600))
# Keep retrying to store a result while Redis is away: giving up leaves the message neither acked
# nor rejected, so its result is lost and the worker's prefetch slot with it (docs/reliability.md, 4).
result_backend_always_retry = True

# Retry a refused publish, briefly: callers are HTTP requests, and the seed's 10-20 s intervals
# would hold them for 45 s. The gateway (tcelery) applies the same policy without blocking.
task_publish_retry = True
task_publish_retry_policy = {
    'max_retries': 3,
    'interval_start': 0,
    'interval_step': 0.2,
    'interval_max': 0.5,
}
# Wait for the broker's confirm, so an accepted task is on the broker (on disk, if persistent).
broker_transport_options = {'confirm_publish': True}
# Keep retrying the broker at start-up instead of exiting (supervisord restarts us anyway).
broker_connection_retry_on_startup = True

# Task events for Flower: the task list, task detail and the "sent" state with its routing.
worker_send_task_events = True
task_send_sent_event = True
