"""A plan for people and for other tools: a rich tree, Mermaid, Graphviz DOT, or JSON."""

from __future__ import annotations

import json

from rich.tree import Tree

from orchestrator.plan import Plan, Step

FORMATS = ("tree", "mermaid", "dot", "json")


def plan_tree(plan: Plan, title: str = "plan") -> Tree:
    """Each step under its deepest dependency (the one that releases it); other dependencies are named."""
    root = Tree(f"[bold]{title}[/] ({len(plan)} steps, {len(plan.waves())} waves, critical path {_path(plan)})")
    nodes: dict[str, Tree] = {}
    depth = {step_id: level for level, wave in enumerate(plan.waves()) for step_id in wave}
    for step_id in sorted(depth, key=depth.__getitem__):
        step = plan[step_id]
        releaser = max(step.needs(), key=depth.__getitem__, default=None)
        parent = nodes[releaser] if releaser else root
        nodes[step_id] = parent.add(_tree_label(step, releaser), highlight=False)
    return root


def to_mermaid(plan: Plan) -> str:
    lines = ["flowchart TD"]
    lines += [f'    {_node(step.id)}["{_escape_mermaid(step.label())}"]' for step in plan]
    lines += [f"    {_node(source)} --> {_node(target)}" for source, target in plan.graph.edges]
    return "\n".join(lines) + "\n"


def to_dot(plan: Plan) -> str:
    lines = ["digraph plan {", "    rankdir=TB;", "    node [shape=box];"]
    lines += [f"    {json.dumps(step.id)} [label={json.dumps(step.label())}];" for step in plan]
    lines += [f"    {json.dumps(source)} -> {json.dumps(target)};" for source, target in plan.graph.edges]
    return "\n".join([*lines, "}"]) + "\n"


def to_json(plan: Plan) -> str:
    return (
        json.dumps({"steps": plan.dump(), "waves": plan.waves(), "critical_path": plan.critical_path()[0]}, indent=2)
        + "\n"
    )


def _tree_label(step: Step, releaser: str | None) -> str:
    others = [need for need in step.needs() if need != releaser]
    after = f"  [dim](also after {', '.join(others)})[/]" if others else ""
    kind = (
        f"[cyan]{step.tool}[/] {_escape_markup(json.dumps(step.args))}"
        if step.tool
        else _escape_markup(step.label().split(": ", 1)[1])
    )
    return f"[bold]{_escape_markup(step.id)}[/]  {kind}{after}"


def _path(plan: Plan) -> str:
    path, _ = plan.critical_path()
    return " -> ".join(path)


def _node(step_id: str) -> str:
    """A Mermaid node id; `_` and `-` are encoded apart so that `a-1` and `a_1` stay two nodes."""
    return "s_" + step_id.replace("_", "__").replace("-", "_h")


def _escape_mermaid(text: str) -> str:
    return text.replace('"', "#quot;")


def _escape_markup(text: str) -> str:
    return text.replace("[", "\\[")
