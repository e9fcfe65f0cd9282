"""The share of the engine thread a fine-tuning job gets while requests decode (no model, no clock)."""
from inference.engine.serving.job_pacing import JobPacer


def test_with_nothing_decoding_slices_run_back_to_back():
    pacer = JobPacer(2.0)
    for _ in range(3):
        assert pacer.may_run(decoding=False)
        pacer.ran_slice(0.05, decoding=False)


def test_a_stream_that_starts_after_a_slice_first_decodes_twice_that_slice():
    pacer = JobPacer(2.0)
    pacer.ran_slice(0.0625, decoding=False)  # (binary fractions: exact sums)
    pacer.ran_slice(0.0625, decoding=False)  # only the last slice is owed, not the idle run's total
    assert not pacer.may_run(decoding=True)
    pacer.decoded(0.0625)
    assert not pacer.may_run(decoding=True)
    pacer.decoded(0.0625)
    assert pacer.may_run(decoding=True)


def test_while_decoding_a_job_gets_at_most_a_third_of_the_time():
    pacer = JobPacer(2.0)
    job = decode = 0.0
    for _ in range(1000):  # the loop: one slice when allowed, then one 2 ms decode step
        if pacer.may_run(decoding=True):
            pacer.ran_slice(0.05, decoding=True)
            job += 0.05
        pacer.decoded(0.002)
        decode += 0.002
    assert job / (job + decode) <= 1 / 3 + 0.05 / (job + decode)
    assert job > 0
