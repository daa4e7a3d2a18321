"""Stand-ins for the slow or external parts of Duet, so tests of everything around them run in
milliseconds: `FakeEngine` runs no model and starts no process; `FakeOpener` makes them for a
window, one per model it chooses."""

from tests.fakes.engine import FakeEngine, GenerateCall
from tests.fakes.opener import FakeOpener

__all__ = ["FakeEngine", "FakeOpener", "GenerateCall"]
