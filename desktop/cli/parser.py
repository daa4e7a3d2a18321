"""The `duet` argument parser: every command, its flags and their help. A bad flag is one line
and exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn, TypeAlias

from desktop import __version__
from desktop.core.chat.prompts import MODES
from desktop.core.chat.sampling import SamplingParams


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="duet",
        description="Talk to GGUF models offline; watch a base and an instruct model side by side.",
    )
    parser.add_argument("--version", action="version", version=f"duet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _generate(sub)
    _render(sub)
    _compare(sub)
    _remote(sub)
    sub.add_parser("models", help="list installed models")
    chats = sub.add_parser("chats", help="list saved chats and documents, newest first")
    chats.add_argument("--search", default="", help="only those whose title or text contains this")
    export = sub.add_parser("export", help="print a saved chat as Markdown or JSON")
    export.add_argument("id", type=int, metavar="ID")
    export.add_argument("--format", choices=("md", "json"), default="md")
    _hub(sub)
    rm = sub.add_parser("rm", help="delete a downloaded model (asks first)")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask")
    selftest = sub.add_parser(
        "self-test", help="load both starter models and generate in both modes"
    )
    engine_flags(selftest)
    return parser


def engine_flags(parser: argparse.ArgumentParser) -> None:
    """How a model file is loaded: threads, context, GPU layers (0 or unset: the default)."""
    parser.add_argument(
        "--threads", type=int, default=0, help="generation threads (default: half the cores)"
    )
    parser.add_argument(
        "--ctx", type=int, default=0, help="context length in tokens (default 4096)"
    )
    parser.add_argument(
        "--gpu-layers",
        type=int,
        default=None,
        help="layers to offload to the GPU (default: all on Apple Silicon, none elsewhere)",
    )


def sampling_flags(parser: argparse.ArgumentParser) -> None:
    """Every sampling setting, defaulting to the app's."""
    defaults = SamplingParams()
    parser.add_argument("--max-tokens", "-n", type=int, default=defaults.max_tokens)
    parser.add_argument(
        "--temperature", "-t", type=float, default=defaults.temperature, help="0 for greedy"
    )
    parser.add_argument("--top-p", type=float, default=defaults.top_p)
    parser.add_argument("--top-k", type=int, default=defaults.top_k)
    parser.add_argument("--min-p", type=float, default=defaults.min_p)
    parser.add_argument("--repeat-penalty", type=float, default=defaults.repeat_penalty)
    parser.add_argument(
        "--seed", type=int, default=None, help="fixed seed for a reproducible output"
    )


def _generate(sub: Commands) -> None:
    gen = sub.add_parser("generate", help="stream a generation to stdout")
    gen.add_argument(
        "text", metavar="TEXT", help="the document (raw) or your message (chat); - reads stdin"
    )
    gen.add_argument(
        "--model",
        "-m",
        help="model id, part of it, a .gguf path, or remote:SERVER[/MODEL] "
        "(default: the starter base model for raw, instruct for chat)",
    )
    gen.add_argument(
        "--mode",
        choices=MODES,
        default="raw",
        help="raw continuation or chat template (default raw)",
    )
    gen.add_argument("--system", "-s", help="system prompt (chat mode)")
    sampling_flags(gen)
    gen.add_argument(
        "--show-prompt", action="store_true", help="print the exact prompt text to stderr first"
    )
    gen.add_argument(
        "--top-k-probs",
        type=int,
        default=0,
        metavar="K",
        help="after the output, list each token's top K alternatives",
    )
    engine_flags(gen)


def _render(sub: Commands) -> None:
    render = sub.add_parser("render", help="print the exact prompt text a model receives")
    src = render.add_mutually_exclusive_group()
    src.add_argument(
        "--model",
        "-m",
        help="use this model's chat template and BOS (default: starter instruct model)",
    )
    src.add_argument("--template", type=Path, metavar="FILE.jinja", help="a chat template file")
    render.add_argument("--bos", default="", help="BOS token text for --template")
    render.add_argument("--eos", default="", help="EOS token text for --template")
    render.add_argument(
        "--messages", type=Path, metavar="FILE.json", help="OpenAI-style message list"
    )
    render.add_argument("--mode", choices=MODES, default="chat")
    render.add_argument("--system", "-s", help="system prompt")
    render.add_argument(
        "text", nargs="?", metavar="TEXT", help="a user message (chat) or the document (raw)"
    )


def _compare(sub: Commands) -> None:
    cmp = sub.add_parser("compare", help="one input through two to four models at once")
    cmp.add_argument("text", metavar="TEXT", help="the input; - reads stdin")
    cmp.add_argument(
        "--models",
        default="",
        help="2 to 4 comma-separated model names, or a catalog line-up: a pair's id, PAIR+examples "
        "(its base aligned by examples) or a ladder's id (default: the starter pair)",
    )
    cmp.add_argument(
        "--mode",
        default="chat",
        help="raw, chat or examples (a base model's chat aligned by examples), for all or one "
        "per model: raw,chat",
    )
    cmp.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run the models one after the other, each freed before the next loads (automatic "
        "when they do not fit in memory together)",
    )
    cmp.add_argument("--system", "-s", help="system prompt (chat mode)")
    cmp.add_argument("--max-tokens", "-n", type=int, default=128)
    cmp.add_argument(
        "--temperature",
        "-t",
        type=float,
        default=None,
        help="default 0: greedy, so differences are the models'; with --samples, 0.8",
    )
    cmp.add_argument(
        "--seed", type=int, default=0, help="with --samples, the first seed: N samples use s..s+N-1"
    )
    cmp.add_argument(
        "--samples",
        type=int,
        metavar="N",
        help="N samples per model (1 to 64, e.g. 8), the same seeds for each: how diverse each "
        "model is, how long it writes, how often it ends by itself, and its entropy",
    )
    cmp.add_argument("--score", action="store_true", help="score each output with the other model")
    cmp.add_argument(
        "--shift",
        action="store_true",
        help="token shift: which tokens of each output the other model would have chosen too",
    )
    cmp.add_argument(
        "--fork-at",
        type=int,
        metavar="N",
        help="then fork: every column goes on from the first column's text up to its token N "
        "(from 0), with --fork-with in its place",
    )
    cmp.add_argument(
        "--fork-with",
        metavar="TEXT",
        help="what replaces token N (default: the first model's second choice there)",
    )
    cmp.add_argument(
        "--comparator",
        type=Path,
        metavar="FILE.json",
        help="also save the comparison (and the fork's) for Google PAIR's LLM Comparator",
    )
    cmp.add_argument(
        "--export",
        type=Path,
        metavar="FILE.md|FILE.json",
        help="save the comparison (with --samples: FILE.json)",
    )
    cmp.add_argument("--ctx", type=int, default=0, help="context length in tokens (default 4096)")


def _remote(sub: Commands) -> None:
    remote = sub.add_parser(
        "remote", help="OpenAI-compatible servers (llama-server, vLLM, Ollama, ...)"
    )
    actions = remote.add_subparsers(
        dest="remote_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    add = actions.add_parser("add", help="add a server")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL", help="e.g. http://127.0.0.1:8080")
    add.add_argument(
        "--api-key-env", default="", metavar="VAR", help="environment variable holding its API key"
    )
    add.add_argument(
        "--allow-insecure-key",
        action="store_true",
        help="send the key over plain http to another machine (readable on the way)",
    )
    actions.add_parser("list", help="list servers and their models")
    rm = actions.add_parser("rm", help="remove a server")
    rm.add_argument("name", metavar="NAME")


def _hub(sub: Commands) -> None:
    pull = sub.add_parser("pull", help="download a model from the Hugging Face Hub")
    pull.add_argument(
        "spec",
        metavar="REPO[:FILE|:QUANT]",
        help="owner/name, owner/name:Q4_K_M, owner/name:file.gguf, or a catalog id",
    )
    pull.add_argument(
        "--allow-unverified",
        action="store_true",
        help="accept a file the Hub publishes no sha256 for (it cannot be checked)",
    )
    search = sub.add_parser("search", help="search the Hub for GGUF models")
    search.add_argument("query", metavar="QUERY")
    search.add_argument(
        "--limit",
        type=int,
        default=20,
        help="at most this many repositories, the most downloaded (one page of the Hub's answer)",
    )
