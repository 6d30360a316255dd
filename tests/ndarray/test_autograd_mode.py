"""autograd's mode flags: scopes, setters returning the previous value, nesting."""

from __future__ import annotations

from hybrix import autograd


def test_defaults():
    assert not autograd.is_recording()
    assert not autograd.is_training()


def test_record_and_pause():
    with autograd.record():
        assert autograd.is_recording()
        assert autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording()
            assert not autograd.is_training()
        assert autograd.is_recording()
        assert autograd.is_training()
    assert not autograd.is_recording()
    assert not autograd.is_training()
    with autograd.record(train_mode=False):
        assert autograd.is_recording()
        assert not autograd.is_training()


def test_train_and_predict_mode_leave_recording():
    with autograd.train_mode():
        assert autograd.is_training()
        assert not autograd.is_recording()
        with autograd.predict_mode():
            assert not autograd.is_training()
        assert autograd.is_training()
    assert not autograd.is_training()


def test_setters_return_previous():
    assert autograd.set_recording(True) is False
    assert autograd.set_recording(False) is True
    assert autograd.set_training(True) is False
    assert autograd.set_training(False) is True


def test_state_restored_after_exception():
    try:
        with autograd.record():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not autograd.is_recording()
