"""Stub of the optional native heap (_nheap.c): heapq's two functions, same signatures."""

from typing import TypeVar

_T = TypeVar("_T")

def heappush(heap: list[_T], item: _T, /) -> None: ...
def heappop(heap: list[_T], /) -> _T: ...
