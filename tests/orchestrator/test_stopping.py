"""Stopping rules on hand-built vote sequences with known outcomes."""

import pytest

from orchestrator import TaskFileError, parse_task
from orchestrator.stopping import (
    AdaptiveConfig,
    AdaptiveConsistency,
    Ballot,
    ConfidenceConsensus,
    Consistency,
    EarlyStoppingConsistency,
    EscConfig,
    leader_probability,
)


def ballots(*answers: str | None) -> list[Ballot]:
    return [Ballot(answer) for answer in answers]


def test_cons_never_stops_early_and_takes_the_majority() -> None:
    rule = Consistency()
    assert not rule.settled(ballots(*"aaaaaaaa"))
    assert rule.decide(ballots("a", "b", "b")).answer == "b"
    assert rule.round_size(0, 40) == 40


def test_esc_stops_only_on_a_full_window_that_agrees() -> None:
    rule = EarlyStoppingConsistency(window=3)
    assert not rule.settled(ballots("a", "a"))
    assert rule.settled(ballots("a", "a", "a"))
    assert not rule.settled(ballots("a", "b", "a"))
    assert rule.settled(ballots("a", "b", "a", "b", "b", "b"))
    assert not rule.settled(ballots("a", "a", None))
    assert rule.round_size(3, 40) == 3 and rule.round_size(39, 1) == 1


def test_esc_window_agreement_is_on_normalised_answers() -> None:
    assert EarlyStoppingConsistency(window=2).settled(ballots("\\frac{1}{2}", "1/2"))


@pytest.mark.parametrize(("first", "second", "expected"), [(0, 0, 0.5), (3, 0, 0.9375), (4, 0, 0.96875), (2, 2, 0.5)])
def test_leader_probability_is_the_beta_mass_above_one_half(first: int, second: int, expected: float) -> None:
    assert leader_probability(first, second) == pytest.approx(expected)


def test_leader_probability_grows_with_the_margin() -> None:
    assert leader_probability(6, 1) > leader_probability(5, 2) > leader_probability(4, 3)


def test_adaptive_consistency_stops_at_the_beta_threshold() -> None:
    rule = AdaptiveConsistency(threshold=0.95)
    assert not rule.settled(ballots("a", "a", "a"))
    assert rule.settled(ballots("a", "a", "a", "a"))
    assert not rule.settled(ballots("a", "b", "a", "a", "a"))
    assert rule.settled(ballots("a", "b", "a", "a", "a", "a", "a", "a"))
    assert not rule.settled(ballots(None, None, None, None))


def test_deepconf_consensus_is_confidence_weighted() -> None:
    rule = ConfidenceConsensus(consensus=0.9, warmup=3)
    confident = [Ballot("a", 10.0), Ballot("a", 9.0), Ballot("b", 1.0)]
    assert rule.settled(confident)
    assert rule.decide([Ballot("a", 1.0), Ballot("a", 1.0), Ballot("b", 5.0)]).answer == "b"
    assert not rule.settled(confident[:2]), "never before the warm-up is complete"
    assert rule.round_size(0, 40) == 3 and rule.round_size(3, 37) == 1


def test_task_file_names_a_rule_or_configures_it() -> None:
    assert isinstance(parse_task({"task": "t", "strategy": {"stop": "esc"}}).strategy.stop, EscConfig)
    configured = parse_task({"task": "t", "strategy": {"stop": {"rule": "adaptive", "threshold": 0.99}}})
    assert configured.strategy.stop == AdaptiveConfig(threshold=0.99)


@pytest.mark.parametrize(
    ("stop", "message"),
    [
        ("majority", "strategy.stop"),
        ({"rule": "esc", "windw": 3}, "unknown key"),
        ({"rule": "adaptive", "threshold": 2}, "threshold"),
    ],
)
def test_bad_rules_are_one_line_errors(stop: object, message: str) -> None:
    with pytest.raises(TaskFileError) as error:
        parse_task({"task": "t", "strategy": {"stop": stop}})
    assert message in str(error.value) and "\n" not in str(error.value)
