"""The shared filter loop: which of a filter's answers it reads, and at which candidates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twinstack.core.scheduler.pipeline import Ints, Mask, Pipeline


@dataclass
class Request:
    candidates: Ints | None = None


@dataclass
class Odd:
    """Lets odd candidates through; records what it was asked."""

    per_host: bool = False
    asked: list[object] = field(default_factory=list)

    def itself(self) -> Odd:
        return self

    def mask(self, state: int, request: Request) -> Mask | None:
        self.asked.append("whole")
        odd: Mask = np.arange(state) % 2 == 1
        return odd


@dataclass
class OddAtCandidates(Odd):
    def mask_at(self, state: int, request: Request, candidates: Ints) -> Mask | None:
        self.asked.append(candidates.tolist())
        odd: Mask = candidates % 2 == 1
        return odd


def test_a_filter_that_judges_candidates_is_asked_about_the_survivors_only_with_the_same_answer() -> None:
    whole, partial = Odd(), OddAtCandidates()
    for made in (whole, partial):
        pipeline: Pipeline[int, Request] = Pipeline(["odd"], {}, {"odd": made.itself}, {})
        assert pipeline.narrow(10, Request(), np.array([2, 3, 5, 8, 9])).tolist() == [3, 5, 9]
    assert whole.asked == ["whole"]
    assert partial.asked == [[2, 3, 5, 8, 9]]


def test_a_filter_judging_candidates_may_let_all_through_with_none() -> None:
    @dataclass
    class Everyone(OddAtCandidates):
        def mask_at(self, state: int, request: Request, candidates: Ints) -> Mask | None:
            return None

    pipeline: Pipeline[int, Request] = Pipeline(["all"], {}, {"all": Everyone}, {})
    request = Request()
    assert pipeline.narrow(10, request, np.array([2, 4])).tolist() == [2, 4]
    assert request.candidates is not None and request.candidates.tolist() == [2, 4]
