"""Stand-ins for the slow or external parts of Duet, so tests of everything around them run in
milliseconds: `FakeEngine` runs no model and starts no process."""

from tests.fakes.engine import FakeEngine, GenerateCall

__all__ = ["FakeEngine", "GenerateCall"]
