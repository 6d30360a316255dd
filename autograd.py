"""autograd's mode flags: recording and train/predict mode, as in MXNet.

Only the state lives here for now; gradients (`mark_variables`, `backward`, `grad`) will
build on `is_recording()` and read the tape from the same per-thread state.

    with autograd.record():          # recording, training
        y = net(x)
    with autograd.predict_mode():    # inference behaviour of Dropout / BatchNorm
        z = net(x)
"""

from __future__ import annotations

import threading

__all__ = [
    "is_recording",
    "is_training",
    "pause",
    "predict_mode",
    "record",
    "set_recording",
    "set_training",
    "train_mode",
]


class _State(threading.local):
    """Per-thread flags (MXNet keeps them thread-local in the engine too)."""

    def __init__(self) -> None:
        self.recording = False
        self.training = False


_STATE = _State()


def set_recording(is_recording: bool) -> bool:
    """Set the recording flag; returns the previous value."""
    previous = _STATE.recording
    _STATE.recording = bool(is_recording)
    return previous


def set_training(train_mode: bool) -> bool:
    """Set the training flag; returns the previous value."""
    previous = _STATE.training
    _STATE.training = bool(train_mode)
    return previous


def is_recording() -> bool:
    return _STATE.recording


def is_training() -> bool:
    return _STATE.training


class _RecordingStateScope:
    """Sets the flags on entry and restores the previous ones on exit; None keeps a flag."""

    def __init__(self, is_record: bool | None, train_mode: bool | None) -> None:
        self._enter_record = is_record
        self._enter_train = train_mode
        self._prev_record: bool | None = None
        self._prev_train: bool | None = None

    def __enter__(self) -> None:
        if self._enter_record is not None:
            self._prev_record = set_recording(self._enter_record)
        if self._enter_train is not None:
            self._prev_train = set_training(self._enter_train)

    def __exit__(self, *exc: object) -> None:
        if self._enter_record is not None:
            set_recording(bool(self._prev_record))
        if self._enter_train is not None:
            set_training(bool(self._prev_train))


def record(train_mode: bool = True) -> _RecordingStateScope:
    """Scope that records operations for gradients; `train_mode` sets training behaviour."""
    return _RecordingStateScope(True, train_mode)


def pause(train_mode: bool = False) -> _RecordingStateScope:
    """Scope that stops recording (e.g. metric code inside `record()`)."""
    return _RecordingStateScope(False, train_mode)


def train_mode() -> _RecordingStateScope:
    """Scope with training behaviour; the recording flag is left as is."""
    return _RecordingStateScope(None, True)


def predict_mode() -> _RecordingStateScope:
    """Scope with inference behaviour; the recording flag is left as is."""
    return _RecordingStateScope(None, False)
