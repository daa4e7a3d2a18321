"""Compare exports in the JSON format of Google PAIR's LLM Comparator: a set of comparisons
in one file that LLM Comparator opens, checked against the format's documented schema.

The schema below is transcribed from PAIR-code/llm-comparator at commit
60edc1eaf96e09f4b9791dbc9bb0fb7bcc82c69c (2024-10-18):
- README.md, "JSON Data Format": the top-level `metadata` (`source_path`,
  `custom_fields_schema`), `models` (`name`) and `examples`; "All the fields presented below are
  required" (input_text, tags, output_text_a, output_text_b, score, individual_rater_scores,
  custom_fields); per_model values hold one value per model.
- client/lib/types.ts: `DataResponse`, `Metadata`, `Model`, `Example` (`score: number | null`,
  `rationale_list: RationaleListItem[]`, the union of custom field value types),
  `IndividualRating`, `CustomFieldSchema` and the `FieldType` enum.
- client/services/state_service.ts `loadData`: the file is `JSON.parse`d and cast, so extra keys
  are kept and ignored; every schema field is read from every example
  (`ex.custom_fields[field.name]`, then `[0]`/`[1]` for per-model types), so each must be there.
- client/components/example_table.ts `renderPerModelField`: "Per-model fields must have exactly
  2 values."; a null `score` renders as "Null" and counts as "unknown" in the win rates
  (metrics_by_slice.ts), never as a win or a tie.

The schema is checked with `jsonschema` (the reference validator), and `check` below walks the
subset of JSON Schema it uses to name every problem at once; test_the_checker_* show that it
rejects what it should.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from desktop.core.compare.export import to_comparator, write_comparator_json
from desktop.core.compare.run import Comparison
from desktop.core.errors import DuetError
from tests.core.comparisons import column, comparison

# The JSON Schema of an LLM Comparator file ---------------------------------------------------

FIELD_TYPES = [  # client/lib/types.ts, enum FieldType
    "number",
    "string",
    "category",
    "text",
    "url",
    "image_path",
    "image_byte",
    "per_model_boolean",
    "per_model_number",
    "per_model_category",
    "per_model_text",
    "per_rating_string",
    "per_rating_per_model_category",
    "base",
]


def _array_of(*types: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": list(types)}}


CUSTOM_FIELD_VALUE = {  # types.ts, Example.custom_fields[key]
    "anyOf": [
        {"type": ["null", "number", "string"]},
        _array_of("boolean", "null"),
        _array_of("number", "null"),
        _array_of("string", "null"),
        {
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "number"}},
        },
    ]
}
INDIVIDUAL_RATING = {  # types.ts IndividualRating; upstream's example_tiny.json omits some keys
    "type": "object",
    "properties": {
        "score": {"type": ["number", "null"]},
        "rating_label": {"type": ["string", "null"]},
        "is_flipped": {"type": ["boolean", "null"]},
        "rationale": {"type": ["string", "null"]},
        "custom_fields": {"type": "object"},
    },
}
EXAMPLE = {  # README "Minimal Example" (all required) + types.ts Example
    "type": "object",
    "required": [
        "input_text",
        "tags",
        "output_text_a",
        "output_text_b",
        "score",
        "individual_rater_scores",
        "custom_fields",
    ],
    "properties": {
        "input_text": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "output_text_a": {"type": "string"},
        "output_text_b": {"type": "string"},
        "score": {"type": ["number", "null"]},
        "individual_rater_scores": {"type": "array", "items": INDIVIDUAL_RATING},
        "rationale_list": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["rationale"],
                "properties": {
                    "rationale": {"type": "string"},
                    "similarities": {"type": "array", "items": {"type": "number"}},
                },
            },
        },
        "custom_fields": {"type": "object", "additionalProperties": CUSTOM_FIELD_VALUE},
    },
}
SCHEMA: dict[str, Any] = {  # types.ts DataResponse
    "type": "object",
    "required": ["metadata", "models", "examples"],
    "properties": {
        "metadata": {
            "type": "object",
            "required": ["source_path", "custom_fields_schema"],
            "properties": {
                "source_path": {"type": "string"},
                "custom_fields_schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "type"],
                        "properties": {
                            "name": {"type": "string"},
                            "type": {"enum": FIELD_TYPES},
                            "domain": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
        "models": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
        },
        "examples": {"type": "array", "items": EXAMPLE},
    },
}

_JSON_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value: Any, name: str) -> bool:
    if name in ("number", "integer"):  # bool is an int in Python, never a number in JSON
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[name])


def check(value: Any, schema: dict[str, Any], at: str = "$") -> list[str]:
    """The problems of `value` against `schema`: type, enum, required, properties,
    additionalProperties, items, minItems, maxItems and anyOf, as JSON Schema defines them."""
    if "anyOf" in schema:
        if all(check(value, option, at) for option in schema["anyOf"]):
            return [f"{at}: matches none of anyOf"]
        return []
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not one of {schema['enum']}"]
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_is(value, name) for name in names):
            return [f"{at}: {type(value).__name__} is not {types}"]
    problems: list[str] = []
    if isinstance(value, dict):
        problems += [f"{at}: no {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                problems += check(item, properties[key], f"{at}.{key}")
            elif extra is False:
                problems.append(f"{at}: unexpected {key!r}")
            elif isinstance(extra, dict):
                problems += check(item, extra, f"{at}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{at}: fewer than {schema['minItems']} items")
        if len(value) > schema.get("maxItems", math.inf):
            problems.append(f"{at}: more than {schema['maxItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                problems += check(item, schema["items"], f"{at}[{index}]")
    return problems


def loader_problems(data: dict[str, Any]) -> list[str]:
    """What LLM Comparator's loader assumes beyond the types (state_service.ts, loadData and
    example_table.ts): every schema field in every example, two values per per-model field,
    the value types each field type is drawn with, and unique field names."""
    problems: list[str] = []
    fields = data["metadata"]["custom_fields_schema"]
    names = [f["name"] for f in fields]
    if len(set(names)) != len(names):
        problems.append(f"field names repeat: {names}")
    scalar = {"number": ("number", "null"), "category": ("string",), "text": ("string", "null")}
    per_model = {
        "per_model_number": ("number", "null"),
        "per_model_category": ("string", "null"),
        "per_model_text": ("string", "null"),
        "per_model_boolean": ("boolean", "null"),
    }
    for index, example in enumerate(data["examples"]):
        values = example["custom_fields"]
        for field in fields:
            name, kind = field["name"], field["type"]
            if name not in values:
                problems.append(f"example {index}: no custom field {name!r}")
                continue
            value = values[name]
            if kind in per_model:
                if not isinstance(value, list) or len(value) != len(data["models"]):
                    problems.append(f"example {index}: {name!r} needs one value per model")
                elif not all(any(_is(v, t) for t in per_model[kind]) for v in value):
                    problems.append(f"example {index}: {name!r} values are not {kind}")
            elif kind in scalar and not any(_is(value, t) for t in scalar[kind]):
                problems.append(f"example {index}: {name!r} is not {kind}")
        undeclared = set(values) - set(names)
        if undeclared:
            problems.append(f"example {index}: fields not in the schema: {sorted(undeclared)}")
    return problems


# Comparisons to export ----------------------------------------------------------------------


def written(tmp_path: Path, comparisons: list[Comparison]) -> dict[str, Any]:
    path = tmp_path / "comparator.json"
    write_comparator_json(comparisons, path)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def fields(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    values: dict[str, Any] = data["examples"][index]["custom_fields"]
    return values


# The format ---------------------------------------------------------------------------------


def test_a_comparison_is_written_in_llm_comparators_documented_format(tmp_path: Path) -> None:
    data = written(tmp_path, [comparison(system="Be brief.")])
    assert check(data, SCHEMA) == []
    assert loader_problems(data) == []


def test_upstreams_own_example_file_passes_the_transcribed_schema() -> None:
    """The schema is checked against the format's own example (docs/data/example_tiny.json at
    the commit above, its first two examples, Apache-2.0), so a transcription error shows."""
    upstream = json.loads(UPSTREAM_EXAMPLE)
    assert check(upstream, SCHEMA) == []
    assert loader_problems(upstream) == []


def test_the_checker_rejects_what_the_format_forbids(tmp_path: Path) -> None:
    data = written(tmp_path, [comparison()])
    del data["examples"][0]["score"]
    data["examples"][0]["tags"] = "raw"
    data["metadata"]["custom_fields_schema"][0]["type"] = "per_model_words"
    data["models"].append({"name": "third"})
    problems = check(data, SCHEMA)
    assert "$.examples[0]: no 'score'" in problems
    assert "$.examples[0].tags: str is not array" in problems
    assert any("per_model_words" in problem for problem in problems)
    assert "$.models: more than 2 items" in problems


def test_the_loader_check_rejects_a_missing_or_one_sided_field(tmp_path: Path) -> None:
    data = written(tmp_path, [comparison()])
    values = fields(data)
    del values["model"]
    values["generated_tokens"] = [4]
    assert loader_problems(data) == [
        "example 0: no custom field 'model'",
        "example 0: 'generated_tokens' needs one value per model",
    ]


def test_the_schema_with_jsonschema(tmp_path: Path) -> None:
    """The same schema through the reference validator, on one comparison and on several."""
    jsonschema.validate(written(tmp_path, [comparison()]), SCHEMA)
    jsonschema.validate(written(tmp_path, [comparison("a"), comparison("b")]), SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"models": [], "examples": [{}]}, SCHEMA)


# What goes in -------------------------------------------------------------------------------


def test_several_comparisons_go_into_one_file_in_order(tmp_path: Path) -> None:
    prompts = ["Write a haiku about rain.", "Name three rivers.", "What is 2+2?"]
    data = written(tmp_path, [comparison(text) for text in prompts])
    assert [e["input_text"] for e in data["examples"]] == prompts
    assert data["models"] == [{"name": "remote:lab/base"}, {"name": "remote:lab/instruct"}]
    assert check(data, SCHEMA) == [] and loader_problems(data) == []


def test_each_example_carries_the_outputs_modes_and_duets_own_data(tmp_path: Path) -> None:
    data = written(tmp_path, [comparison(system="Be brief.")])
    example = data["examples"][0]
    assert example["input_text"] == "Write a haiku about rain."
    assert (example["output_text_a"], example["output_text_b"]) == (
        "Rain falls on roofs",
        "Rain taps the glass",
    )
    assert example["tags"] == ["A: raw", "B: chat"]
    assert example["individual_rater_scores"] == [] and example["rationale_list"] == []
    values = fields(data)
    assert values["model"] == ["remote:lab/base", "remote:lab/instruct"]
    assert values["model_kind"] == ["base", "instruct"]
    assert values["mode"] == ["raw", "chat"]
    # "Rain falls..." and "Rain taps..." first differ at character 5 ("f" against "t")
    assert values["first_divergence_char"] == 5
    assert values["stop_reason"] == ["eos", "length"]
    assert values["generated_tokens"] == [4, 4]
    assert values["error"] == [None, None]
    assert values["system_prompt"] == "Be brief."


def test_no_rater_means_a_null_score_and_the_metadata_says_why(tmp_path: Path) -> None:
    data = written(tmp_path, [comparison(), comparison("Again")])
    assert [e["score"] for e in data["examples"]] == [None, None]
    notes = " ".join(data["metadata"]["duet_notes"])
    assert "score" in notes and "null" in notes and "no preference" in notes


def test_identical_outputs_have_no_divergence(tmp_path: Path) -> None:
    same = ["Same", " words"]
    values = fields(written(tmp_path, [comparison(a=same, b=same)]))
    assert values["first_divergence_char"] is None


def test_a_failed_column_keeps_its_partial_text_and_says_it_failed(tmp_path: Path) -> None:
    broken = comparison()
    broken.columns[1] = column(
        "instruct", "instruct", "chat", ["Rain"], reason=None, error="The worker crashed."
    )
    data = written(tmp_path, [broken])
    values = fields(data)
    assert data["examples"][0]["output_text_b"] == "Rain"
    assert values["stop_reason"] == ["eos", "error"]
    assert values["error"] == [None, "The worker crashed."]
    assert values["generated_tokens"] == [4, 1]
    assert values["first_divergence_char"] is None  # not known until both columns finish
    assert check(data, SCHEMA) == [] and loader_problems(data) == []


def test_a_third_column_is_left_out_and_the_metadata_says_so(tmp_path: Path) -> None:
    third = column("other", "instruct", "chat", ["Drops"])
    data = written(tmp_path, [comparison(), comparison("Two", extra=third)])
    assert len(data["models"]) == 2
    assert all("Drops" not in json.dumps(e) for e in data["examples"])
    notes = " ".join(data["metadata"]["duet_notes"])
    assert "third column" in notes and "remote:lab/other" in notes and "comparison 2" in notes
    assert check(data, SCHEMA) == [] and loader_problems(data) == []


def test_columns_whose_models_vary_between_comparisons_are_named_by_letter(tmp_path: Path) -> None:
    other = comparison("Two")
    other.columns[0] = column("base-2", "base", "raw", ["Rain"])
    data = written(tmp_path, [comparison(), other])
    assert data["models"][0]["name"] == "A (2 models)"
    assert data["models"][1]["name"] == "remote:lab/instruct"
    assert [fields(data, i)["model"][0] for i in (0, 1)] == ["remote:lab/base", "remote:lab/base-2"]


def test_the_same_model_in_both_columns_gets_two_names(tmp_path: Path) -> None:
    twin = comparison()
    twin.columns[1] = column("base", "base", "chat", ["Rain"])
    data = written(tmp_path, [twin])
    assert data["models"] == [{"name": "remote:lab/base (A)"}, {"name": "remote:lab/base (B)"}]


def test_text_stays_readable_and_every_string_survives(tmp_path: Path) -> None:
    korean = comparison("안녕하세요?", a=["안녕", "!"], b=["\ud800 odd"])
    path = tmp_path / "comparator.json"
    write_comparator_json([korean], path)
    raw = path.read_text(encoding="utf-8")
    assert "안녕하세요?" in raw  # not \uc548 escapes
    data = json.loads(raw)
    assert data["examples"][0]["output_text_b"] == "\ud800 odd"  # a lone surrogate, kept


def test_nothing_to_export_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "comparator.json"
    with pytest.raises(DuetError, match="no comparison"):
        write_comparator_json([], path)
    single = comparison()
    single.columns = single.columns[:1]
    with pytest.raises(DuetError, match="two columns"):
        write_comparator_json([single], path)
    assert not path.exists()


def test_to_comparator_is_plain_json_data() -> None:
    data = to_comparator([comparison()])
    assert json.loads(json.dumps(data)) == data


UPSTREAM_EXAMPLE = r"""{
  "metadata": {
    "source_path": "n/a: synthetic data for LLM Comparator demo",
    "custom_fields_schema": [
      {"name": "language", "type": "per_model_category"}
    ]
  },
  "models": [
    {"name": "ABC v0.6"},
    {"name": "ABC v0.5"}
  ],
  "examples": [
    {
      "input_text": "What is LLM Comparator?",
      "tags": ["Technology"],
      "output_text_a": "LLM Comparator is an interactive tool for analyzing results from side-by-side LLM evaluation. It visualizes model performance and helps users explore individual responses.\n\nIt has been developed by the People + AI Research Team at Google. The code is available at https://github.com/PAIR-code/llm-comparator.",
      "output_text_b": "LLM Comparator is a tool for comparing LLM responses from two different models.",
      "score": 0.5,
      "individual_rater_scores": [
        {"score": 1.0, "rating_label": "A is better", "is_flipped": false, "rationale": "Response A is more detailed."},
        {"score": 1.5, "rating_label": "A is much better", "is_flipped": false, "rationale": "Response A provides more information."},
        {"score": -0.5, "rating_label": "B is slightly better", "is_flipped": true, "rationale": "Response B more succinctly answers the question."},
        {"score": 0.0, "rating_label": "same", "is_flipped": true, "rationale": "Both provide correct information."}
      ],
      "custom_fields": {
        "language": ["English", "English"]
      }
    },
    {
      "input_text": "How to draw bar charts using Python?",
      "tags": ["Technology"],
      "output_text_a": "Bar charts can be created by using data visualization libraries.",
      "output_text_b": "You can draw bar charts using data visualization libraries.\n\n- Matplotlib is a very popular, established library primarily for creating static plots.\n- Plotly is a web-based visualization library for creating a variety of interactive charts.\n- Altair is a declarative visualization library based on a simple, expressive grammar.",
      "score": -1.0,
      "individual_rater_scores": [],
      "custom_fields": {
        "language": ["English", "English"]
      }
    }
  ]
}"""
