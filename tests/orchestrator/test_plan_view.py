"""A plan shown to people (a rich tree) and exported to Mermaid, Graphviz DOT and JSON."""

import io
import json

from rich.console import Console

from orchestrator.plan import Plan
from orchestrator.plan_view import FORMATS, plan_tree, to_dot, to_json, to_mermaid


def sample() -> Plan:
    return Plan.of(
        [
            {"id": "look-up", "tool": "kb", "args": {"key": "[x]"}},
            {"id": "think", "prompt": 'say "hi" to ${look-up}'},
            {"id": "last", "prompt": "combine [bold]", "depends_on": ["look-up", "think"]},
        ]
    )


def rendered(plan: Plan, title: str = "demo") -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(plan_tree(plan, title))
    return console.export_text()


def test_the_tree_heads_with_counts_and_the_critical_path() -> None:
    assert rendered(sample()).splitlines()[0] == "demo (3 steps, 3 waves, critical path look-up -> think -> last)"


def test_the_tree_nests_steps_and_names_their_other_dependencies() -> None:
    lines = rendered(sample()).splitlines()[1:]
    assert lines[0].endswith('look-up  kb {"key": "[x]"}')
    assert lines[1].strip().startswith("└── think") and lines[1].index("think") > lines[0].index("look-up")
    assert lines[2].strip().endswith("combine [bold]  (also after look-up)")


def test_the_tree_prints_brackets_literally_not_as_markup() -> None:
    text = rendered(sample())
    assert "[x]" in text and "[bold]" in text


def test_mermaid_has_a_node_per_step_and_an_edge_per_dependency() -> None:
    lines = to_mermaid(sample()).splitlines()
    assert lines[0] == "flowchart TD"
    assert sum("[" in line for line in lines[1:]) == 3
    assert sum("-->" in line for line in lines) == 3
    assert any("#quot;hi#quot;" in line for line in lines), "double quotes are escaped inside labels"


def test_mermaid_keeps_ids_that_differ_only_by_dash_and_underscore_apart() -> None:
    plan = Plan.of([{"id": "a-1", "prompt": "x"}, {"id": "a_1", "prompt": "y"}])
    nodes = {line.split("[")[0].strip() for line in to_mermaid(plan).splitlines()[1:]}
    assert len(nodes) == 2


def test_dot_quotes_ids_and_labels() -> None:
    text = to_dot(sample())
    assert text.startswith("digraph plan {") and text.rstrip().endswith("}")
    assert '"look-up" -> "think";' in text and '"think" -> "last";' in text
    assert '"think" [label="think: say \\"hi\\" to ${look-up}"];' in text


def test_json_holds_steps_waves_and_critical_path_and_reloads() -> None:
    data = json.loads(to_json(sample()))
    assert data["waves"] == [["look-up"], ["think"], ["last"]]
    assert data["critical_path"] == ["look-up", "think", "last"]
    assert Plan.of(data["steps"]).dump() == sample().dump()


def test_the_formats_the_cli_offers() -> None:
    assert FORMATS == ("tree", "mermaid", "dot", "json")
