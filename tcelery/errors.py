"""What can go wrong between the gateway and Celery, as exceptions a web handler can map."""


class TceleryError(Exception):
    """Base class."""


class BrokerUnavailable(TceleryError):
    """The broker did not confirm the task in time: it was not accepted."""


class ResultBackendUnavailable(TceleryError):
    """The result backend cannot be reached; ``task_id`` is set when the task was sent anyway."""

    def __init__(self, message: str, task_id: str | None = None):
        super().__init__(message)
        self.task_id = task_id


class ResultTimeout(TceleryError):
    """The task was accepted but has not finished within the caller's wait."""

    def __init__(self, task_id: str, timeout: float):
        super().__init__(f'task {task_id} not ready after {timeout:g}s')
        self.task_id = task_id
