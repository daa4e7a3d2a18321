"""`duet render` and `duet generate`: the exact prompt a model receives, and a reply streamed
from any model, a file here or a server's, by one path."""

from __future__ import annotations

import argparse
import sys

from desktop.cli.inputs import any_model, installed_model, messages, read_text
from desktop.cli.output import notes, stream_reply
from desktop.core.chat.prompts import (
    ChatTemplate,
    Mode,
    TokenizerSpec,
    load_template_file,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.factory import local_config, open_engine, render_input
from desktop.core.errors import InvalidPrompt


def cmd_render(args: argparse.Namespace) -> int:
    if args.mode == "raw" and args.text is None:
        raise InvalidPrompt("Raw mode renders a document: give it as TEXT.")
    template: ChatTemplate | None
    if args.template is not None:
        template = load_template_file(args.template)
        spec = TokenizerSpec(bos_token=args.bos or None, eos_token=args.eos or None, add_bos=False)
    else:
        model = installed_model(args.model, "chat")
        template, spec = template_of(model.info), TokenizerSpec.from_info(model.info)
    if args.mode == "raw":
        rendered = render_raw(read_text(args.text), spec)
    else:
        rendered = render_chat(messages(args.messages, args.text), spec, template, args.system)
    notes(rendered)
    sys.stdout.write(rendered.text)  # exactly the prompt: nothing before, nothing after
    sys.stdout.flush()
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    text = read_text(args.text)
    if not text.strip():
        raise InvalidPrompt("The text is empty: give the model something to continue or answer.")
    sampling = SamplingParams(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        min_p=args.min_p,
        repeat_penalty=args.repeat_penalty,
        max_tokens=args.max_tokens,
        seed=args.seed,
    ).validated()
    if not 0 <= args.top_k_probs <= 20:
        raise InvalidPrompt("--top-k-probs must be between 0 and 20.")
    mode: Mode = args.mode
    model = any_model(args.model, mode)
    rendered = render_input(model, mode, text, args.system)
    notes(rendered)
    if args.show_prompt:
        print(
            f"--- prompt ({rendered.template_name or 'raw'}) ---\n{rendered.text}\n--- output ---",
            file=sys.stderr,
        )
    config = local_config(args.ctx, args.threads, args.gpu_layers)
    config.check()
    engine = open_engine(model, config)
    try:
        engine.load()
        done = stream_reply(engine, rendered, sampling, args.top_k_probs)
        # Only an engine that knows its context counts the prompt's tokens.
        counted = engine.capabilities.reports_context
    finally:
        engine.close()
    stats = done.stats
    prompt = f"prompt {stats.prompt_tokens} tokens · " if counted else ""
    print(
        f"\n[{model.id} · {mode} · stopped: {done.reason.describe()} · "
        f"{stats.generated_tokens} tokens, {stats.tokens_per_second:.1f} tok/s · "
        f"{prompt}seed {stats.seed}]",
        file=sys.stderr,
    )
    return 0
