"""The routes table of celeryconfig is the one list of task and queue names: what reads it, and
the one file that cannot (supervisord.conf), checked against it."""

from __future__ import annotations

import configparser
import shlex

import pytest

import celeryconfig as routes
from support.process import ROOT

pytestmark = pytest.mark.unit


def test_every_task_is_routed_to_its_own_declared_queue() -> None:
    assert routes.task_routes == {task: {'queue': queue} for task, queue in routes.QUEUE_OF.items()}
    assert len(set(routes.QUEUE_OF.values())) == len(routes.QUEUE_OF)
    declared = {queue.name for queue in routes.task_queues}
    assert declared == set(routes.ALL_QUEUES) == {*routes.QUEUE_OF.values(), routes.task_default_queue}


def test_supervisord_workers_consume_the_routes_tables_queues() -> None:
    conf = configparser.RawConfigParser()
    conf.read(ROOT / 'supervisord.conf')
    for program, queues in (('worker-add', routes.ADD_WORKER_QUEUES),
                            ('worker-check', routes.CHECK_WORKER_QUEUES)):
        argv = shlex.split(conf[f'program:{program}']['command'])
        assert argv[argv.index('-Q') + 1].split(',') == list(queues), program
