"""The reliability tally: each scenario's counts, kept in a JSON file and printed as a table.

Columns:
    N           requests the scenario sent
    accepted    answered 200, or 202 with a task id (the task is on the broker)
    completed   accepted, and a result was obtained (in the answer or from GET /result/<id>)
    lost        accepted but never completed
    duplicated  executions beyond the first, where the upstream makes them visible (hits per
                unique URL token); "n/a" where the task has no visible side effect
    refused     answered 503 (the broker did not accept the task) - expected while a broker is down
    notes       what else was measured (latencies, restarts, RSS...)
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = ('scenario', 'N', 'accepted', 'completed', 'lost', 'duplicated', 'refused', 'notes')
# A full run records each of them: crashes and restarts (1-5, 2b a bulk chunk), bad input (6), soak
# (7), the RabbitMQ cluster and Sentinel (8-11), overload (12).
SCENARIOS = {'1', '2', '2b', '3', '4', '5', '6a', '6b', '6c', '7', '8', '9', '10', '11', '12'}


def _number(row: Row) -> tuple[int, str]:
    """'10. ...' after '9. ...', '6b' after '6a'."""
    number = row.scenario.split('.', 1)[0]
    digits = ''.join(c for c in number if c.isdigit())
    return int(digits or 0), number


@dataclass
class Row:
    scenario: str
    N: int  # the table's column name
    accepted: int
    completed: int | str
    lost: int | str
    duplicated: int | str
    refused: int = 0
    notes: str = ''
    extra: dict[str, Any] = field(default_factory=dict)


class Tally:
    def __init__(self, path: Path):
        self.path = path
        self.rows: list[Row] = []
        self._lock = threading.Lock()

    def record(self, scenario: str, calls: list, *, duplicated: int | str, notes: str = '',
               **extra: Any) -> Row:
        """Count a batch of ``harness.Call`` objects and keep the row (written at once)."""
        accepted = [c for c in calls if c.accepted]
        completed = [c for c in accepted if c.final is not None and 'failed' not in c.final]
        return self._keep(Row(scenario, len(calls), len(accepted), len(completed),
                              len(accepted) - len(completed), duplicated, sum(c.status == 503 for c in calls),
                              notes, extra))

    def record_counts(self, scenario: str, n: int, accepted: int, completed: int | str, lost: int | str,
                      duplicated: int | str, refused: int = 0, notes: str = '', **extra: Any) -> Row:
        """A row counted by the caller (scenarios whose requests are not ``Call`` batches)."""
        return self._keep(Row(scenario, n, accepted, completed, lost, duplicated, refused, notes, extra))

    def _keep(self, row: Row) -> Row:
        """Replace the scenario's row, and write every row at once."""
        with self._lock:
            self.rows = [r for r in self.rows if r.scenario != row.scenario] + [row]
            self.path.write_text(json.dumps([asdict(r) for r in self.rows], indent=2))
        return row

    def complete(self) -> bool:
        return {row.scenario.split('.', 1)[0] for row in self.rows} >= SCENARIOS

    def markdown(self) -> str:
        lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
        for row in sorted(self.rows, key=_number):
            values = asdict(row)
            lines.append('| ' + ' | '.join(str(values[c]) for c in COLUMNS) + ' |')
        return '\n'.join(lines)
