"""`duet render --messages` passes any role a template knows (tool_response, ipython, document,
...) through to it, as llama.cpp does, and refuses only a role that cannot be one: empty, over
64 characters, or holding a control character such as a newline. Run as a user runs it: a real
subprocess of the real `duet` entry point, on a real template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import duet

TEMPLATES = Path(__file__).resolve().parents[1] / "core" / "templates"
LLAMA_31 = TEMPLATES / "meta-llama-Llama-3.1-8B-Instruct.jinja"
ECHO = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"


def messages_file(tmp_path: Path, messages: list[dict[str, object]]) -> Path:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(messages), encoding="utf-8")
    return path


def test_render_passes_roles_beyond_the_four_common_ones_to_the_template(tmp_path: Path) -> None:
    template = tmp_path / "echo.jinja"
    template.write_text(ECHO, encoding="utf-8")
    roles = ["system", "user", "tool_response", "ipython", "document", "developer", "function"]
    file = messages_file(tmp_path, [{"role": r, "content": r.upper()} for r in roles])
    result = duet("render", "--template", str(template), "--messages", str(file))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"<{r}>{r.upper()}" for r in roles)


def test_render_gives_llama_31_its_ipython_role(tmp_path: Path) -> None:
    file = messages_file(
        tmp_path,
        [
            {"role": "user", "content": "What is 6 times 7?"},
            {"role": "ipython", "content": "42"},
        ],
    )
    result = duet(
        "render", "--template", str(LLAMA_31), "--bos", "<|begin_of_text|>", "--messages", str(file)
    )
    assert result.returncode == 0, result.stderr
    # The template's own rendering of a tool result: its ipython header, the content as JSON.
    assert '<|start_header_id|>ipython<|end_header_id|>\n\n"42"<|eot_id|>' in result.stdout
    assert result.stdout.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        ("", "''"),
        ("   ", "'   '"),
        ("tool\nuser", "'tool\\nuser'"),
        ("user\x00", "'user\\x00'"),
        ("r" * 65, "'rrrrrrrrrrrrrrrrrrrr…'"),
    ],
    ids=["empty", "blank", "newline", "nul", "65 characters"],
)
def test_render_refuses_a_role_that_cannot_be_one_in_one_line(
    tmp_path: Path, role: str, shown: str
) -> None:
    file = messages_file(
        tmp_path, [{"role": "user", "content": "Hi"}, {"role": role, "content": "x"}]
    )
    result = duet("render", "--template", str(LLAMA_31), "--messages", str(file))
    assert result.returncode == 1
    assert f"message 2 has role {shown}" in result.stderr
    assert "1 to 64 printable characters" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_render_takes_a_role_of_exactly_64_characters(tmp_path: Path) -> None:
    template = tmp_path / "echo.jinja"
    template.write_text(ECHO, encoding="utf-8")
    file = messages_file(tmp_path, [{"role": "r" * 64, "content": "x"}])
    result = duet("render", "--template", str(template), "--messages", str(file))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"<{'r' * 64}>x"
