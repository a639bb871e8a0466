"""One flight's probability through LightGBM's single-row prediction API.

``Booster.predict`` builds a predictor object, checks and copies its input and asks the
library for the output size on every call: about 28 us for one row of the champion, against
5 us for LightGBM's own single-row path (``LGBM_BoosterPredictForMatSingleRowFast``, set up
once per model), and 58 against 11 us when the call follows 10 ms of idle, as requests at
100 req/s do. That path is part of LightGBM's C API, which its Python package loads but does
not wrap; its answers are the booster's own (``fti_assets_tests/inference/test_one_row.py``).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np

PREDICT_NORMAL, FLOAT64 = 0, 1  # C_API_PREDICT_NORMAL and C_API_DTYPE_FLOAT64 of LightGBM's c_api.h


class OneRowPredictor:
    """The probability of one encoded row, as ``booster.predict`` gives it on one thread."""

    def __init__(self, booster: Any) -> None:
        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._lib, self._check = _LIB, _safe_call
        self._booster = booster  # the config reads the booster's trees: keep it alive as long
        self.columns = booster.num_feature()
        # As Booster.predict with num_iteration=None: the best iteration if training recorded one.
        iterations = booster.best_iteration if booster.best_iteration > 0 else -1
        self._config = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(PREDICT_NORMAL),
                ctypes.c_int(0),
                ctypes.c_int(iterations),
                ctypes.c_int(FLOAT64),
                ctypes.c_int32(self.columns),
                _c_str("num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, self._config)
        self._out = np.empty(1, dtype=np.float64)
        self._out_pointer = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_length = ctypes.c_int64()
        # The config and the output buffer are one per model; a worker scores one batch at a
        # time, and the lock keeps that true if two threads ever share a model.
        self._lock = threading.Lock()

    def predict(self, row: np.ndarray) -> float:
        row = np.ascontiguousarray(row, dtype=np.float64)
        if row.shape != (self.columns,):
            raise ValueError(f"one row of {self.columns} values expected, got shape {row.shape}")
        with self._lock:
            self._check(
                self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                    self._config,
                    row.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(self._out_length),
                    self._out_pointer,
                )
            )
            return float(self._out[0])
