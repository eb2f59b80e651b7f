"""The 17-column schema of Meta's details files, and its check against a Parquet schema.

Meta's details configs all share one column set. Some parts of it are not documented (the
keys of ``output_metrics`` and of the NLL struct, the type of ``output_choice_completions``),
so the check is strict about the shape a reader depends on (a struct, a list of strings) and
lenient about what varies between tasks (struct keys, string or large string, all-null
columns that Parquet stores as type ``null``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.types as pat

__all__ = [
    "DETAILS_COLUMNS",
    "METRICS_COLUMNS",
    "SYNTHETIC_METADATA_KEY",
    "ColumnSpec",
    "SchemaError",
    "SchemaProblem",
    "check_schema",
    "require_columns",
    "schema_hint",
]


def _is_string(dtype: pa.DataType) -> bool:
    return pat.is_string(dtype) or pat.is_large_string(dtype) or pat.is_string_view(dtype)


def _is_list(dtype: pa.DataType) -> bool:
    return pat.is_list(dtype) or pat.is_large_list(dtype) or pat.is_list_view(dtype)


def _is_string_list(dtype: pa.DataType) -> bool:
    return _is_list(dtype) and (_is_string(dtype.value_type) or pat.is_null(dtype.value_type))


def _is_struct_of(predicate: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    def check(dtype: pa.DataType) -> bool:
        if not pat.is_struct(dtype):
            return False
        return all(predicate(dtype.field(i).type) for i in range(dtype.num_fields))

    return check


def _is_float_list(dtype: pa.DataType) -> bool:
    return _is_list(dtype) and (pat.is_floating(dtype.value_type) or pat.is_null(dtype.value_type))


def _is_number_or_bool(dtype: pa.DataType) -> bool:
    return pat.is_floating(dtype) or pat.is_integer(dtype) or pat.is_boolean(dtype)


def _is_string_or_null(dtype: pa.DataType) -> bool:
    return _is_string(dtype) or pat.is_null(dtype)


def _any_type(dtype: pa.DataType) -> bool:
    return True


@dataclass(frozen=True)
class ColumnSpec:
    """One expected column: its name, the type a reader relies on, and whether it may be null."""

    name: str
    expected: str
    """The expected type in words, for error messages."""
    check: Callable[[pa.DataType], bool]
    nullable: bool = False


SYNTHETIC_METADATA_KEY = b"evalbook.synthetic"
"""Parquet schema metadata key with which evalbook's sample generator marks its files."""

DETAILS_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("task_type", "string", _is_string),
    ColumnSpec("task_name", "string", _is_string),
    ColumnSpec("subtask_name", "string", _is_string, nullable=True),
    ColumnSpec("input_question", "string", _is_string),
    ColumnSpec(
        "input_choice_list",
        "struct of strings (letter -> choice text)",
        _is_struct_of(_is_string_or_null),
        nullable=True,
    ),
    ColumnSpec("input_final_prompts", "list of strings", _is_string_list),
    ColumnSpec("input_correct_responses", "list of strings", _is_string_list),
    ColumnSpec("output_prediction_text", "list of strings", _is_string_list, nullable=True),
    ColumnSpec("output_parsed_answer", "string", _is_string, nullable=True),
    ColumnSpec("output_choice_completions", "any type", _any_type, nullable=True),
    ColumnSpec(
        "output_choice_negative_log_likelihoods",
        "struct of lists of floats (normalization -> one NLL per choice)",
        _is_struct_of(_is_float_list),
        nullable=True,
    ),
    ColumnSpec(
        "output_metrics",
        "struct of numbers or booleans (metric name -> value)",
        _is_struct_of(_is_number_or_bool),
    ),
    ColumnSpec("is_correct", "bool", pat.is_boolean),
    ColumnSpec("input_question_hash", "string", _is_string),
    ColumnSpec("input_final_prompts_hash", "list of strings", _is_string_list),
    ColumnSpec("benchmark_label", "string", _is_string),
    ColumnSpec("eval_config", "struct of strings", _is_struct_of(_is_string_or_null)),
)

METRICS_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("benchmark_label", "string", _is_string),
    ColumnSpec("metric_tag", "string", _is_string),
    ColumnSpec(
        "metric_value_computed",
        "number",
        lambda dtype: pat.is_floating(dtype) or pat.is_integer(dtype),
    ),
)


@dataclass(frozen=True)
class SchemaProblem:
    """A column that is missing or has a type the reader cannot use."""

    column: str
    problem: str

    def __str__(self) -> str:
        return f"column {self.column!r}: {self.problem}"


class SchemaError(ValueError):
    """A file's columns do not match the schema; the message names the file and each column."""

    def __init__(self, path: str, problems: Iterable[SchemaProblem], hint: str = "") -> None:
        self.path = str(path)
        self.problems = tuple(problems)
        lines = [f"{self.path}: invalid schema"]
        lines += [f"  - {problem}" for problem in self.problems]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def _describe(dtype: pa.DataType) -> str:
    if pat.is_map(dtype):
        return f"map<{dtype.key_type}, {dtype.item_type}>"
    return str(dtype)


def check_schema(
    schema: pa.Schema, specs: Iterable[ColumnSpec] = DETAILS_COLUMNS
) -> list[SchemaProblem]:
    """Return every column of ``specs`` that is missing from ``schema`` or has a wrong type.

    A column of Arrow type ``null`` (all values null) passes when the spec allows nulls.

    Examples
    --------
    >>> schema = pa.schema([("benchmark_label", pa.string()), ("metric_tag", pa.int64())])
    >>> [str(p) for p in check_schema(schema, METRICS_COLUMNS)]  # doctest: +NORMALIZE_WHITESPACE
    ["column 'metric_tag': expected string, found int64",
     "column 'metric_value_computed': missing"]
    """
    problems = []
    for spec in specs:
        index = schema.get_field_index(spec.name)
        if index < 0:
            problems.append(SchemaProblem(spec.name, "missing"))
            continue
        dtype = schema.field(index).type
        if pat.is_null(dtype) and spec.nullable:
            continue
        if not spec.check(dtype):
            found = _describe(dtype)
            problems.append(SchemaProblem(spec.name, f"expected {spec.expected}, found {found}"))
    return problems


def require_columns(
    schema: pa.Schema,
    columns: Iterable[str],
    *,
    path: str,
    specs: Iterable[ColumnSpec] = DETAILS_COLUMNS,
) -> None:
    """Raise :class:`SchemaError` unless every column in ``columns`` is present and well typed.

    Columns outside ``specs`` only need to be present. The error lists every problem at once.
    """
    by_name = {spec.name: spec for spec in specs}
    wanted = list(columns)
    checked = [by_name[name] for name in wanted if name in by_name]
    problems = check_schema(schema, checked)
    problems += [
        SchemaProblem(name, "missing")
        for name in wanted
        if name not in by_name and schema.get_field_index(name) < 0
    ]
    if problems:
        raise SchemaError(path, problems, schema_hint(problems))


def schema_hint(problems: Iterable[SchemaProblem]) -> str:
    """Return what to do about ``problems``: download again, or rewrite columns with new types.

    Examples
    --------
    >>> print(schema_hint([SchemaProblem("is_correct", "missing")]))
    The file does not have the layout of Meta's eval details. Download the dump again; another
    tool may have rewritten the file.
    """
    problems = list(problems)
    lines = [
        "The file does not have the layout of Meta's eval details. Download the dump again; "
        "another tool may have rewritten the file."
    ]
    if any(problem.problem != "missing" for problem in problems):
        lines.append(
            "If you converted the file yourself, write each listed column with the expected type."
        )
    if any("found map<" in problem.problem for problem in problems):
        lines.append(
            "pyarrow cannot cast a map to a struct, but pa.array([dict(row) for row in "
            "column.to_pylist()]) rebuilds a map column as a struct."
        )
    return "\n".join(lines)
