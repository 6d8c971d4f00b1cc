"""The routes table (routing.py) is the one list of task and queue names: what reads it, and
the one file that cannot (supervisord.conf), checked against it."""

from __future__ import annotations

import configparser
import shlex

import celeryconfig
import routing
from testbed.process import ROOT


def test_every_task_is_routed_to_its_own_declared_queue() -> None:
    assert celeryconfig.task_routes == {task: {'queue': queue} for task, queue in routing.QUEUE_OF.items()}
    assert len(set(routing.QUEUE_OF.values())) == len(routing.QUEUE_OF)
    declared = {queue.name for queue in celeryconfig.task_queues}
    assert declared == set(routing.ALL_QUEUES)
    assert declared == {*routing.QUEUE_OF.values(), celeryconfig.task_default_queue}


def test_supervisord_workers_consume_the_routes_tables_queues() -> None:
    conf = configparser.RawConfigParser()
    conf.read(ROOT / 'supervisord.conf')
    for program, queues in (('worker-add', routing.ADD_WORKER_QUEUES),
                            ('worker-check', routing.CHECK_WORKER_QUEUES)):
        argv = shlex.split(conf[f'program:{program}']['command'])
        assert argv[argv.index('-Q') + 1].split(',') == list(queues), program
