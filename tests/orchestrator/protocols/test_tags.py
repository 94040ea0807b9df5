"""The spawn/join formats as data: outlines parsed leniently, threads joined exactly as each format writes them."""

from __future__ import annotations

import pytest

from orchestrator.errors import TaskFileError
from orchestrator.protocols import MULTIVERSE, PARALLEL_R1, THREADWEAVER, Outline, TagSet, ThreadWeaverConfig
from orchestrator.spec import parse_task


def test_outlines_come_from_the_last_outline_block_in_order() -> None:
    text = (
        "<Outlines>\n<Outline>1: old</Outline>\n</Outlines>\n...\n"
        "<Parallel>\n<Outlines>\n<Outline>1: add</Outline>\n<Outline> 2) check </Outline>\n</Outlines>"
    )
    assert THREADWEAVER.outlines_in(text) == [Outline(1, "add"), Outline(2, "check")]


def test_an_unclosed_outline_ends_at_the_next_outline_or_the_block_end() -> None:
    text = "<Outlines>\n<Outline>1: add\n<Outline>2: check\n<Outline>\n</Outlines>"
    assert THREADWEAVER.outlines_in(text) == [Outline(1, "add"), Outline(2, "check")]


def test_outlines_are_renumbered_by_position() -> None:
    text = "<Goal>\n<Outline>3: a</Outline>\n<Outline>3: b</Outline>\n</Goal>"
    assert [outline.number for outline in MULTIVERSE.outlines_in(text)] == [1, 2]


def test_a_format_without_outlines_forks_into_its_paths() -> None:
    assert PARALLEL_R1.fork == "<Parallel>"
    assert PARALLEL_R1.outlines_in("anything") == [Outline(1, ""), Outline(2, "")]


@pytest.mark.parametrize(
    ("tags", "joined"),
    [
        (THREADWEAVER, "\n<Thread>\n1:a</Thread>\n<Thread>\n2:b</Thread>\n</Parallel>\n"),
        (MULTIVERSE, "\n<Path>\n1:a</Path>\n<Path>\n2:b</Path>\n<Conclusion>\n"),
        (PARALLEL_R1, "\n<Path>\na</Path>\n<Path>\nb</Path>\n<Summary>\n"),
    ],
)
def test_each_format_joins_its_threads_exactly(tags: TagSet, joined: str) -> None:
    assert tags.joined(["a", "b"]) == joined


def test_the_example_shows_the_whole_block_the_model_is_to_write() -> None:
    example = MULTIVERSE.example()
    assert example.startswith("<Parallel>\n<Goal>\n<Outline>1: <what thread 1 does></Outline>")
    assert example.endswith("<Conclusion>\n<conclusion></Conclusion>\n</Parallel>")


def test_a_tag_set_of_ones_own_is_configuration() -> None:
    config = ThreadWeaverConfig(format={"thread": ["<Branch>", "</Branch>"], "outlines": ["<Plan>", "</Plan>"]})
    assert config.format.fork == "</Plan>" and config.format.header(2) == "\n<Branch>\n2:"


@pytest.mark.parametrize(
    ("protocol", "message"),
    [
        ("nope", "strategy.protocol.name: Input tag 'nope'"),
        ({"name": "threadweaver", "format": "x"}, "strategy.protocol.format: unknown format 'x'"),
        ({"name": "threadweaver", "format": {"thread": ["", "</T>"]}}, "strategy.protocol.format.thread.0"),
        ({"name": "hogwild", "workers": 9}, "strategy.protocol.workers: Input should be less than or equal to 8"),
        ({"name": "sot", "points": 3}, "strategy.protocol.points: unknown key"),
    ],
)
def test_a_bad_protocol_is_one_line_naming_the_field(protocol: object, message: str) -> None:
    with pytest.raises(TaskFileError) as caught:
        parse_task({"task": "t", "strategy": {"protocol": protocol}})
    assert message in str(caught.value) and "\n" not in str(caught.value)
