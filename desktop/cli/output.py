"""What the command line writes: a reply streamed to stdout, each token's alternatives, the
download progress bar and the one-line error. stdout carries the result, stderr the rest."""

from __future__ import annotations

import math
import re
import sys
from typing import TYPE_CHECKING, Any, TextIO

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.stream import follow

if TYPE_CHECKING:  # the Hub's modules load huggingface_hub: only `duet pull` needs them
    from desktop.core.hub.download import DownloadProgress


# Control characters a terminal acts on: ESC starts sequences that set the clipboard (OSC 52),
# the window title or links, or clear the screen; C1 controls (\x9b is CSI) do the same on some
# terminals; BEL, backspace and the rest rewrite what is shown, and a lone carriage return
# sends the line back to its start, so that what follows hides what came before. Newline, tab
# and \r\n stay. A model, a template, a server or a saved title can hold any of them: what goes
# to a terminal shows them as \x1b, never runs them.
_SHOWN = {
    code: f"\\x{code:02x}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
    if chr(code) not in "\n\t\r"
}
_LONE_CR = re.compile(r"\r(?!\n)")


def terminal_safe(text: str) -> str:
    """`text` with every control character a terminal would act on written out as \\xNN."""
    return _LONE_CR.sub(r"\\x0d", text.translate(_SHOWN))


class TerminalSafe:
    """A terminal's stream that shows control characters instead of sending them. Only for a
    terminal: into a pipe or a file the output is data and goes unchanged."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(terminal_safe(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self.stream, name)


def _unfiltered(stream: TextIO) -> TextIO:
    return stream.stream if isinstance(stream, TerminalSafe) else stream


def fail(message: str) -> None:
    """An expected failure: one plain line on stderr, no traceback."""
    print(f"duet: {message}", file=sys.stderr)


def notes(rendered: RenderedPrompt) -> None:
    """What rendering the prompt had to say (a fallback template, a missing BOS)."""
    for note in rendered.notes:
        print(f"note: {note}", file=sys.stderr)


def stream_reply(
    engine: Engine, rendered: RenderedPrompt, sampling: SamplingParams, top_k_probs: int = 0
) -> p.Done:
    """Print the reply as it streams; with top_k_probs, each token's alternatives after it.
    Ctrl+C cancels the generation and goes on up as KeyboardInterrupt."""
    tokens: list[p.Token] = []
    started = rendered.mode == "raw"

    def show(event: p.Token) -> None:
        nonlocal started
        text = event.text
        if not started:  # a transcript reply starts after "Assistant:"'s space
            text = text.lstrip()
            started = bool(text)
        sys.stdout.write(text)
        sys.stdout.flush()
        if top_k_probs and event.token_id >= 0:
            tokens.append(event)

    try:
        done = follow(engine.generate(rendered, sampling, top_k_probs, top_k_probs > 0), show)
    except KeyboardInterrupt:
        engine.cancel()
        raise
    if tokens:
        alternatives(tokens)
    return done


def alternatives(tokens: list[p.Token]) -> None:
    """A table on stderr: each token, its probability, and its top alternatives'."""
    print("\n\ntoken probabilities (top alternatives):", file=sys.stderr)
    for token in tokens:
        chosen = math.exp(token.logprob) if token.logprob is not None else float("nan")
        alts = "  ".join(f"{a.text!r} {math.exp(a.logprob):.2f}" for a in token.top)
        print(f"  {token.piece!r:<18} {chosen:5.2f}   {alts}", file=sys.stderr)


class ProgressBar:
    """One line on stderr, redrawn in place: bar, percent, MB, rate, time left."""

    WIDTH = 30

    def __init__(self) -> None:
        self.drawn = False

    def update(self, progress: DownloadProgress) -> None:
        filled = int(self.WIDTH * progress.fraction)
        eta = progress.eta
        left = f"{int(eta // 60)}:{int(eta % 60):02d}" if eta is not None else "–"
        # Straight to the terminal: the carriage return that redraws the line is the bar's own.
        _unfiltered(sys.stderr).write(
            f"\r  [{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress.fraction:4.0%}  "
            f"{progress.done / 1e6:,.0f}/{progress.total / 1e6:,.0f} MB  "
            f"{progress.rate / 1e6:6.1f} MB/s  ETA {left} "
        )
        sys.stderr.flush()
        self.drawn = True

    def end(self) -> None:
        """Close the line, so what follows starts on its own."""
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False
