from __future__ import annotations

from desktop.core.engine.local.stopper import StopMatcher


def feed_all(stops: list[str], chunks: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = []
    for chunk in chunks:
        text, stopped = matcher.feed(chunk)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


def test_stop_string_split_across_tokens_is_never_released() -> None:
    matcher = StopMatcher(["\nUser:"])
    released = [matcher.feed(t) for t in ["Hi", "\n", "Us", "er", ": more"]]
    assert released == [("Hi", False), ("", False), ("", False), ("", False), ("", True)]


def test_a_false_start_is_released_whole() -> None:
    assert feed_all(["\nUser:"], ["a\n", "Usual", " day"]) == ("a\nUsual day", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(["B", "A"], ["xxAyyB"]) == ("xx", True)


def test_no_stops_is_a_pass_through() -> None:
    assert feed_all([], ["a", "b"]) == ("ab", False)


def test_held_text_is_flushed_at_the_end() -> None:
    assert feed_all(["\nUser:"], ["end\nUs"]) == ("end\nUs", False)
