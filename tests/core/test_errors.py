"""Errors carry their data, and a worker's error crosses the pipe as itself: pickled and back,
each keeps its class, its message and its fields."""

from __future__ import annotations

import pickle

import pytest

from desktop.core import errors
from desktop.core.engine import events as p


def every_error() -> list[type[errors.DuetError]]:
    found = [errors.DuetError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub not in found)
    return found


@pytest.mark.parametrize("cls", every_error(), ids=lambda cls: cls.__name__)
def test_every_error_survives_pickling(cls: type[errors.DuetError]) -> None:
    error = cls("Something to say.")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls and str(again) == "Something to say."


def test_the_data_an_error_carries_survives_a_failed_event() -> None:
    sent = p.Failed(errors.PromptTooLong("Too long.", tokens=5000, n_ctx=4096))
    received = pickle.loads(pickle.dumps(sent))
    assert isinstance(received.error, errors.PromptTooLong)
    assert (received.error.tokens, received.error.n_ctx) == (5000, 4096)
    assert received.message == "Too long."
    remote = pickle.loads(pickle.dumps(errors.RemoteError("No.", server="lab", status=401)))
    assert (remote.server, remote.status) == ("lab", 401)
    crashed = pickle.loads(pickle.dumps(errors.EngineCrashed("Gone.", exitcode=-9)))
    assert crashed.exitcode == -9 and isinstance(crashed, errors.EngineError)
