"""Per-number and global token buckets, driven by an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.ratelimit import Limit, RateLimiter

A = "+8613800138000"
B = "+8613900139000"


def test_first_send_to_a_number_may_go_now() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    assert limiter.delay(A, 0.0) == 0.0
    assert limiter.take(A, 0.0) == 0.0


def test_per_number_limit_asks_to_wait_until_a_token_refills() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    limiter.take(A, 100.0)
    assert limiter.delay(A, 100.0) == pytest.approx(60.0)
    assert limiter.delay(A, 130.0) == pytest.approx(30.0)
    assert limiter.delay(A, 160.0) == 0.0


def test_a_refused_take_takes_nothing() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    limiter.take(A, 0.0)
    assert limiter.take(A, 10.0) == pytest.approx(50.0)
    assert limiter.take(A, 60.0) == 0.0  # the refused take did not push this back


def test_per_number_limits_are_independent_between_numbers() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    limiter.take(A, 0.0)
    assert limiter.delay(B, 0.0) == 0.0


def test_burst_up_to_count_then_steady_rate() -> None:
    limiter = RateLimiter(per_number=[Limit(5, 3600)])
    for _ in range(5):
        assert limiter.take(A, 0.0) == 0.0
    assert limiter.delay(A, 0.0) == pytest.approx(720.0)  # one token per 12 minutes


def test_the_strictest_of_several_per_number_limits_wins() -> None:
    # A typical carrier rule: 1 per minute, 5 per hour, 10 per day.
    limiter = RateLimiter(per_number=[Limit(1, 60), Limit(5, 3600), Limit(10, 86400)])
    for minute in range(5):
        assert limiter.take(A, minute * 60.0) == 0.0
    wait = limiter.delay(A, 300.0)
    assert wait > 60.0  # the hourly bucket, not the minute one, decides
    assert limiter.take(A, 300.0 + wait) == 0.0


def test_global_limit_is_shared_by_all_numbers() -> None:
    limiter = RateLimiter(global_limits=[Limit(2, 1)])
    assert limiter.take(A, 0.0) == 0.0
    assert limiter.take(B, 0.0) == 0.0
    assert limiter.delay("+8613700137000", 0.0) == pytest.approx(0.5)


def test_cost_counts_segments_of_a_long_message() -> None:
    limiter = RateLimiter(global_limits=[Limit(10, 1)])
    assert limiter.take(A, 0.0, cost=3) == 0.0
    assert limiter.take(B, 0.0, cost=7) == 0.0
    assert limiter.delay(A, 0.0, cost=3) == pytest.approx(0.3)


def test_a_cost_below_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(per_number=[Limit(2, 60)]).take(A, 0.0, cost=0)


def test_an_oversize_message_goes_when_the_bucket_is_full_and_leaves_it_in_debt() -> None:
    """Issue 8 item 8: 8 segments against 5 per minute is sent (never raises, never stuck)."""
    limiter = RateLimiter(per_number=[Limit(5, 60)])
    assert limiter.take(A, 0.0, cost=8) == 0.0
    # 8 taken from 5: the bucket is 3 in debt, so one more segment waits (3 + 1) / (5/60) s.
    assert limiter.delay(A, 0.0, cost=1) == pytest.approx(48.0)
    assert limiter.delay(A, 0.0, cost=8) == pytest.approx(96.0)  # a full bucket again
    assert limiter.take(A, 96.0, cost=8) == 0.0


def test_an_oversize_message_waits_while_the_bucket_is_not_full() -> None:
    limiter = RateLimiter(per_number=[Limit(5, 60)])
    assert limiter.take(A, 0.0, cost=1) == 0.0
    assert limiter.take(A, 0.0, cost=8) == pytest.approx(12.0)
    assert limiter.take(A, 12.0, cost=8) == 0.0


def test_now_may_be_a_datetime() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    start = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    limiter.take(A, start)
    assert limiter.delay(A, start + timedelta(seconds=45)) == pytest.approx(15.0)


def test_a_clock_stepping_back_neither_refills_nor_breaks() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    limiter.take(A, 1000.0)
    assert limiter.delay(A, 900.0) == pytest.approx(60.0)
    assert limiter.delay(A, 1060.0) == 0.0


def test_no_limits_never_delays() -> None:
    limiter = RateLimiter()
    for _ in range(100):
        assert limiter.take(A, 0.0) == 0.0


def test_prune_forgets_only_numbers_whose_buckets_refilled() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    limiter.take(A, 0.0)
    limiter.take(B, 50.0)
    assert limiter.prune(70.0) == 1  # A refilled at 60, B not until 110
    assert limiter.delay(B, 70.0) == pytest.approx(40.0)
    assert limiter.delay(A, 70.0) == 0.0


def test_delay_does_not_create_state_for_unknown_numbers() -> None:
    limiter = RateLimiter(per_number=[Limit(1, 60)])
    limiter.delay(A, 0.0)
    assert limiter.prune(0.0) == 0


def test_limit_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Limit(0, 60)
    with pytest.raises(ValueError):
        Limit(1, 0)
