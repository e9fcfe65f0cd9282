"""The scheduler alone: who joins the running batch, in which order, within the row limit and the
prefill budget (no model, no threads)."""
from inference.engine.serving.request import RequestState
from inference.engine.serving.scheduler import Scheduler
from inference.engine.types import AdapterRef, GenerationRequest, SamplingParams


def waiting(request_id: str, *, n: int = 1, prompt_tokens: int = 10, adapter: str | None = None) -> RequestState:
    ref = AdapterRef(key=adapter, revision=0, path="") if adapter else None
    req = GenerationRequest(request_id=request_id, base="tiny", messages=({"role": "user", "content": "hi"},),
                            params=SamplingParams(n=n), adapter=ref)
    return RequestState(req, lambda event: None, list(range(prompt_tokens)), max_tokens=8)


def scheduler(*requests: RequestState, max_batch_size: int = 8, budget: int = 100) -> Scheduler:
    s = Scheduler(max_batch_size=max_batch_size, prefill_token_budget=budget)
    for request in requests:
        s.add(request)
    return s


def any_adapter(ref) -> bool:
    return True


def admitted(s: Scheduler, running_rows: int = 0, can_acquire=any_adapter) -> list[str]:
    """The ids admitted in one engine step, as the loop asks: until next_admission says None."""
    ids, rows, tokens = [], running_rows, 0
    while (request := s.next_admission(rows, tokens, can_acquire)) is not None:
        ids.append(request.request_id)
        rows += request.n
        tokens += len(request.prompt_ids)
    return ids


def test_requests_join_first_come_first_served_until_the_batch_is_full():
    s = scheduler(*(waiting(f"r{i}", n=2) for i in range(5)), max_batch_size=8)
    assert admitted(s, running_rows=2) == ["r0", "r1", "r2"]  # 2 running + 3 x 2 rows = 8
    assert [r.request_id for r in s.waiting] == ["r3", "r4"]


def test_a_request_that_does_not_fit_blocks_the_queue_instead_of_being_overtaken():
    s = scheduler(waiting("big", n=6), waiting("small", n=1), max_batch_size=8)
    assert admitted(s, running_rows=4) == []  # 4 + 6 > 8: "small" must not jump ahead of "big"
    assert admitted(s, running_rows=2) == ["big"]  # once rows free up, in order
    assert admitted(s, running_rows=0) == ["small"]


def test_an_empty_batch_admits_a_request_larger_than_the_row_limit():
    s = scheduler(waiting("huge", n=16), max_batch_size=8)
    assert admitted(s) == ["huge"]  # else it would wait forever


def test_the_prefill_budget_caps_the_prompt_tokens_of_one_step_but_the_first_always_fits():
    s = scheduler(waiting("long", prompt_tokens=150), waiting("a", prompt_tokens=40),
                  waiting("b", prompt_tokens=40), waiting("c", prompt_tokens=40), budget=100)
    assert admitted(s) == ["long"]  # alone over the budget, and still admitted
    assert admitted(s) == ["a", "b"]  # 80 tokens; a third would make 120
    assert admitted(s) == ["c"]


def test_a_request_whose_adapter_cannot_be_loaded_yet_is_passed_over_not_dropped():
    s = scheduler(waiting("blocked", adapter="full"), waiting("ready", adapter="loaded"), waiting("base"))
    loadable = lambda ref: ref is None or ref.key != "full"  # noqa: E731
    assert admitted(s, can_acquire=loadable) == ["ready", "base"]
    assert [r.request_id for r in s.waiting] == ["blocked"]
    assert admitted(s) == ["blocked"]  # once a slot frees up


def test_a_cancelled_waiting_request_leaves_the_queue():
    s = scheduler(waiting("a"), waiting("b"))
    assert s.remove("a").request_id == "a" and s.remove("a") is None and s.remove("unknown") is None
    assert len(s) == 1 and admitted(s) == ["b"]
