"""The import rules of docs/architecture.md, read from the source: no cycle, and the layers hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HOME = Path(__file__).resolve().parents[2]
PARTS = ('bench', 'common', 'deploy', 'fleet', 'gateway', 'probe', 'scripts', 'tcelery', 'testbed')
TOP = ('add_task', 'celeryconfig', 'check_worker', 'main', 'routing', 'web')


def _module_name(path: Path) -> str:
    parts = path.relative_to(HOME).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _sources() -> dict[str, Path]:
    files = [HOME / f'{name}.py' for name in TOP]
    for part in PARTS:
        files += sorted((HOME / part).rglob('*.py'))
    return {_module_name(f): f for f in files}


SOURCES = _sources()


def _imports(path: Path) -> set[str]:
    """Our modules that `path` imports, at any depth of its code (a function's import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f'{node.module}.{alias.name}' for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in SOURCES)
    return found


GRAPH = {name: _imports(path) for name, path in SOURCES.items()}


def _reach(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for module in GRAPH[todo.pop()] - seen:
            seen.add(module)
            todo.append(module)
    return seen


def test_no_module_imports_itself_through_others():
    cycles = sorted(name for name in GRAPH if name in _reach(name))
    assert cycles == []


@pytest.mark.parametrize(('importer', 'never'), [
    ('tcelery', ('gateway', 'probe', 'routing', 'main', 'fleet', 'web', 'check_worker')),
    ('probe', ('gateway', 'tcelery', 'check_worker', 'add_task', 'main', 'web', 'routing')),
    ('check_worker', ('gateway', 'tcelery', 'web')),
    ('add_task', ('gateway', 'tcelery', 'web')),
    ('gateway', ('check_worker', 'add_task', 'main')),
    ('fleet', ('gateway', 'probe', 'tcelery', 'routing', 'main', 'web', 'testbed', 'bench')),
    ('fleet.cli', ('fleet.app',)),  # the command line is a client of the dashboard, not its server
    ('testbed', ('gateway', 'probe', 'tcelery', 'main', 'web', 'check_worker', 'fleet')),
])
def test_a_part_never_reaches_what_the_architecture_forbids(importer, never):
    modules = [name for name in GRAPH if name == importer or name.startswith(f'{importer}.')]
    reached = set().union(*(_reach(m) | {m} for m in modules))
    broken = sorted(m for m in reached if any(m == n or m.startswith(f'{n}.') for n in never))
    assert broken == []
