"""``single_blas_thread``: one BLAS thread inside, the machine's setting back after the last
context closes, and nested contexts set the limit once."""

from __future__ import annotations

import threadpoolctl

from eventstudy import study


def _blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"]


def test_one_thread_inside_and_the_setting_back_after_the_outer_context():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with study.single_blas_thread():
            assert all(n == 1 for n in _blas_threads())
            with study.single_blas_thread():
                assert all(n == 1 for n in _blas_threads())
            assert all(n == 1 for n in _blas_threads())  # the inner exit keeps the limit
        assert _blas_threads() == before
    assert study._BLAS_LIMIT["depth"] == 0


def test_nested_contexts_set_the_limit_once(monkeypatch):
    made = []

    class Limiter:
        def __init__(self, limits, user_api):
            made.append((limits, user_api))
            self.restored = 0

        def restore_original_limits(self):
            self.restored += 1

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", Limiter)
    with study.single_blas_thread():
        limiter = study._BLAS_LIMIT["limiter"]
        for _ in range(3):
            with study.single_blas_thread():
                pass
        assert limiter.restored == 0
    assert made == [(1, "blas")] and limiter.restored == 1
    assert study._BLAS_LIMIT == {"depth": 0, "limiter": None}


def test_the_limit_is_restored_when_the_body_raises():
    try:
        with study.single_blas_thread():
            raise KeyError("x")
    except KeyError:
        pass
    assert study._BLAS_LIMIT == {"depth": 0, "limiter": None}
