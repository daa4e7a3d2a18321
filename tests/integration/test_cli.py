"""`duet` as a user runs it: a real subprocess, real models, exit codes and stderr lines."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from desktop.core.chat.prompts import Message, TokenizerSpec, render_chat, template_of
from desktop.core.models.gguf_info import read_model_info
from tests.integration.helpers import duet

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("gemma-3-270m", "raw"),
        ("gemma-3-270m", "chat"),
        ("smollm2-135m-instruct", "raw"),
        ("smollm2-135m-instruct", "chat"),
    ],
)
def test_generate_streams_from_both_models_in_both_modes(
    starter_paths: tuple[Path, Path], model: str, mode: str
) -> None:
    result = duet("generate", "-m", model, "--mode", mode, "--seed", "3", "-n", "12", "The sky is")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert f"[{model} · {mode} · stopped:" in result.stderr and "tok/s" in result.stderr
    if model == "gemma-3-270m" and mode == "chat":
        assert "No chat template: using a plain transcript" in result.stderr


def test_generate_shows_prompt_and_token_alternatives(starter_paths: tuple[Path, Path]) -> None:
    result = duet(
        "generate",
        "-m",
        "smollm2",
        "--mode",
        "chat",
        "--system",
        "Be terse.",
        "--show-prompt",
        "--top-k-probs",
        "3",
        "-t",
        "0",
        "-n",
        "6",
        "Hi",
    )
    assert result.returncode == 0, result.stderr
    assert "<|im_start|>system\nBe terse.<|im_end|>" in result.stderr
    assert "token probabilities" in result.stderr


def test_default_models_follow_the_mode(starter_paths: tuple[Path, Path]) -> None:
    assert "[gemma-3-270m · raw" in duet("generate", "-n", "3", "Hello").stderr
    assert (
        "[smollm2-135m-instruct · chat"
        in duet("generate", "--mode", "chat", "-n", "3", "Hello").stderr
    )


def test_render_prints_exactly_the_prompt(tmp_path: Path, instruct_path: Path) -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    file = tmp_path / "m.json"
    file.write_text(json.dumps(messages))
    result = duet("render", "--model", "smollm2", "--messages", str(file))
    info = read_model_info(instruct_path)
    expected = render_chat(
        [Message("user", "Hi")], TokenizerSpec.from_info(info), template_of(info), "S"
    )
    assert result.returncode == 0 and result.stdout == expected.text  # no trailing newline


def test_render_with_a_template_file(tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text(
        "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}<assistant>"
    )
    result = duet(
        "render",
        "--template",
        str(template),
        "--bos",
        "<s>",
        "--eos",
        "</s>",
        "--system",
        "S",
        "Hi",
    )
    assert result.stdout == "<s><system>S</s><user>Hi</s><assistant>"
    base = duet("render", "--model", "gemma", "Hi")
    assert base.stdout == "<bos>User: Hi\nAssistant:" and "plain transcript" in base.stderr
    raw = duet("render", "--model", "gemma", "--mode", "raw", "Once")
    assert raw.stdout == "<bos>Once"


def test_models_lists_the_starter_pair(starter_paths: tuple[Path, Path]) -> None:
    result = duet("models")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["gemma-3-270m", "base", "Q4_K_M"]
    assert lines[2].split()[:3] == ["smollm2-135m-instruct", "instruct", "Q4_1"]


def test_self_test_passes(starter_paths: tuple[Path, Path]) -> None:
    result = duet("self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok  ") == 2 and "self-test passed" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["generate", "-m", "llama-70b", "Hi"], 1, "No installed model matches 'llama-70b'"),
        (["generate", "   "], 1, "The text is empty"),
        (["generate", "--ctx", "256", "word " * 400], 1, "context holds 256"),
        (["generate", "--temperature", "9", "Hi"], 1, "temperature must be between 0 and 5"),
        (["generate", "--max-tokens", "lots", "Hi"], 2, "invalid int value: 'lots'"),
        (["generate", "--mode", "poem", "Hi"], 2, "invalid choice: 'poem'"),
        (["generate", "-m", "/nowhere/x.gguf", "Hi"], 1, "does not exist"),
        (["render", "--template", "/nowhere.jinja", "Hi"], 1, "Cannot read the template"),
        (["render", "--model", "smollm2"], 1, "Nothing to render"),
        (["generate", "-m", "remote:", "Hi"], 1, "'remote:' names no server"),
        (["generate", "-m", "remote:/m", "Hi"], 1, "names no server: give remote:SERVER"),
        (["generate", "-m", "remote:nobody/m", "Hi"], 1, "There is no server named nobody"),
        (["compare", "--mode", "raw,poem", "Hi"], 1, "--mode is raw, chat or examples"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], code: int, message: str) -> None:
    result = duet(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_corrupt_model_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"\0" * 1000)
    result = duet("generate", "-m", str(bad), "Hi")
    assert result.returncode == 1 and "is not a GGUF model file" in result.stderr
    assert "Traceback" not in result.stderr


def test_text_from_stdin(starter_paths: tuple[Path, Path]) -> None:
    result = duet("generate", "-n", "4", "-", stdin="Roses are red,")
    assert result.returncode == 0 and result.stdout.strip()


def test_the_cli_asks_the_factory_not_the_engines() -> None:
    """One path for a file here and a server's model: the CLI never imports an engine itself."""
    cli = Path(__file__).resolve().parents[2] / "desktop" / "cli"
    imported = {
        f"{path.name}: {node.module}"
        for path in cli.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith(
            ("desktop.core.engine.local", "desktop.core.engine.remote.openai")
        )
    }
    assert imported == set()
