"""docs/logs.md lists every `event` the services log, and nothing else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENT_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


def modules(service: str) -> list[ast.Module]:
    return [ast.parse(path.read_text()) for path in (ROOT / service).glob("*.py")]


def called_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def event_builders(trees: list[ast.Module]) -> set[str]:
    """event() and the service's functions that pass a parameter of theirs on to one of
    these as the event name (a helper that adds the error field, say): found in the code,
    not listed here, so renaming or adding a helper cannot hide its events from the check."""
    builders = {"event"}
    functions = [
        node
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    grew = True
    while grew:
        grew = False
        for function in functions:
            if function.name in builders:
                continue
            arguments = function.args
            params = {a.arg for a in [*arguments.posonlyargs, *arguments.args]}
            for call in ast.walk(function):
                if not isinstance(call, ast.Call) or called_name(call) not in builders:
                    continue
                # event's name is its first argument; a helper's may be any of them.
                passed = call.args[:1] if called_name(call) == "event" else call.args
                if any(isinstance(arg, ast.Name) and arg.id in params for arg in passed):
                    builders.add(function.name)
                    grew = True
                    break
    return builders


def logged_events() -> dict[str, set[str]]:
    """Event names in the code, per service, from the calls that build an event."""
    found: dict[str, set[str]] = {"polybot": set(), "yolo5": set()}
    for service, names in found.items():
        trees = modules(service)
        builders = event_builders(trees)
        for tree in trees:
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or called_name(node) not in builders:
                    continue
                for arg in node.args:
                    for inner in ast.walk(arg):
                        if isinstance(inner, ast.Constant) and EVENT_NAME.match(str(inner.value)):
                            names.add(inner.value)
    return found


def documented_events() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "logs.md").read_text()
    found = {}
    for service in ("polybot", "yolo5"):
        section = text.split(f"### {service}\n", 1)[1].split("\n### ", 1)[0]
        found[service] = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", section, re.M))
    return found


def test_every_logged_event_is_documented_under_its_service_and_no_other():
    logged, documented = logged_events(), documented_events()
    assert logged["polybot"] and logged["yolo5"]
    for service in logged:
        assert logged[service] - documented[service] == set(), f"{service}: not in docs/logs.md"
        assert documented[service] - logged[service] == set(), f"{service}: not logged"


def logged_fields() -> dict[str, dict[str, set[str]]]:
    """The keyword fields of each `event("name", field=...)` call, per service and event."""
    found: dict[str, dict[str, set[str]]] = {"polybot": {}, "yolo5": {}}
    for service, events in found.items():
        for tree in modules(service):
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = node.args[0]
                if called_name(node) == "event" and isinstance(name, ast.Constant):
                    keywords = {k.arg for k in node.keywords if k.arg}
                    events.setdefault(name.value, set()).update(keywords)
    return found


def documented_fields() -> dict[str, dict[str, set[str]]]:
    """The top-level fields named in each event's `fields` column (`timings.load_ms` names
    `timings`)."""
    text = (ROOT / "docs" / "logs.md").read_text()
    found = {}
    for service in ("polybot", "yolo5"):
        section = text.split(f"### {service}\n", 1)[1].split("\n### ", 1)[0]
        rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|[^|]*\|([^|]*)\|", section, re.M)
        found[service] = {name: set(re.findall(r"`([a-z_]+)[.`]", cell)) for name, cell in rows}
    return found


def test_every_field_an_event_is_logged_with_is_in_its_row():
    logged, documented = logged_fields(), documented_fields()
    # The start-up events name the running commit (issue 23).
    assert "version" in logged["polybot"]["app.started"]
    assert "version" in logged["yolo5"]["worker.ready"]
    for service, events in logged.items():
        for name, fields in events.items():
            missing = fields - documented[service].get(name, set())
            assert not missing, f"{service} {name}: {sorted(missing)} not in docs/logs.md"


def test_event_builders_finds_helpers_that_pass_the_name_on():
    source = """
def _failed(name, exc):
    return event(name, error=type(exc).__name__)

class Worker:
    def retry(self, job, name, exc):
        log(extra=_failed(name, exc))

def unrelated(name):
    return event("app.started", who=name)
"""
    assert event_builders([ast.parse(source)]) == {"event", "_failed", "retry"}
