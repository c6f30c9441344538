"""Issue 10: the group commit behind the dispatcher's outcome writer and the webhooks' raw
store (dispatch/group_commit.py): concurrent callers share one write, each gets its own
result, and one bad item fails only its own caller."""

from __future__ import annotations

import asyncio

import pytest

from dispatch.group_commit import GroupCommit


class Writer:
    """A write that doubles numbers and refuses negative ones, recording each batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, batch: list[int]) -> list[int]:
        self.batches.append(list(batch))
        await asyncio.sleep(0)  # a round trip: later callers queue meanwhile
        if any(n < 0 for n in batch):
            raise ValueError(f"refused {batch}")
        return [2 * n for n in batch]


async def test_issue10_callers_arriving_together_share_one_write():
    writer = Writer()
    commit = GroupCommit(writer, wait=0)
    assert await asyncio.gather(*(commit.add(n) for n in range(10))) == [
        2 * n for n in range(10)]
    assert writer.batches == [list(range(10))]


async def test_issue10_what_arrives_during_a_write_makes_the_next_batch():
    writer = Writer()
    commit = GroupCommit(writer, wait=0)
    first = asyncio.gather(*(commit.add(n) for n in range(3)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first batch is being written now
    second = asyncio.gather(*(commit.add(n) for n in range(3, 6)))
    assert await first == [0, 2, 4] and await second == [6, 8, 10]
    assert writer.batches == [[0, 1, 2], [3, 4, 5]]


async def test_issue10_one_bad_item_fails_only_its_own_caller():
    writer = Writer()
    commit = GroupCommit(writer, wait=0)
    outcomes = await asyncio.gather(*(commit.add(n) for n in (1, -1, 2)),
                                    return_exceptions=True)
    assert outcomes[0] == 2 and outcomes[2] == 4
    assert isinstance(outcomes[1], ValueError) and "[-1]" in str(outcomes[1])
    assert writer.batches == [[1, -1, 2], [1], [-1], [2]]


async def test_issue10_an_idle_caller_is_written_alone_and_at_once():
    writer = Writer()
    commit = GroupCommit(writer, wait=0)
    assert await asyncio.wait_for(commit.add(7), 1) == 14
    with pytest.raises(ValueError):
        await commit.add(-7)
    assert writer.batches == [[7], [-7]]
