"""Fuzzing the config loader: whatever the file, its bytes or the --set options, `load_config`
returns a RunConfig or raises ConfigError, whose message names where the problem is (the file,
--set or the defaults); never another exception (which train.py would show as a bug).

Property-based (hypothesis), small: each test runs well under 10 s on one core.
"""
from __future__ import annotations

import dataclasses
import json
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from funfisher.runconfig import ConfigError, RunConfig, from_dict, load_config, to_dict, to_toml
from funfisher.schedules import SCHEDULES

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEMO = CONFIGS / "demo.toml"
PAPER = CONFIGS / "paper" / "xlmr_xcopa.toml"  # with [schedules.<name>] sections
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def schema(cls=RunConfig, prefix: str = "") -> dict[str, list[str]]:
    """{table: its keys} of the config dataclasses ("" is the top level), e.g. {"task.train": [...]}."""
    tables = {prefix: []}
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            tables.update(schema(type(default), f"{prefix}{f.name}."))
        tables[prefix].append(f.name)
    return {table.rstrip("."): keys for table, keys in tables.items()}


TABLES = schema()
KEYS = [f"{table}.{key}" if table else key for table, keys in TABLES.items() for key in keys]
NAMES = sorted({key for keys in TABLES.values() for key in keys} | {"lrr", "schedules", ""})
SECTIONS = [f"schedules.{name}" for name in SCHEDULES] + ["schedules.gradual", "schedules.fun.train",
                                                          "schedules.gu.schedule", "schedules.fun.model"]

# TOML values, good and bad: what a user might write for any key
WORDS = ["xnli", "squad", "xcopa", "en", "de", "dee", "dev", "test", "train", "qa", "classification", "fun", "gu",
         "random", "fixed", "top", "fisher", "sample", "hooks", "cpu", "cuda:0", "linear", "lora", "full", "",
         " ", "a/b", "..", "x\ny"]
SCALARS = st.one_of(
    st.integers(), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.sampled_from(WORDS), st.text(max_size=8),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(NAMES + WORDS[:6]), inner, max_size=3)), max_leaves=8)
LITERALS = st.sampled_from(["0", "-1", "1", "2", "1e-4", "-1.0", "nan", "inf", "-inf", '""', '"en"', '["en", "de"]',
                            "[]", "[1, 1]", "true", "{k = 1}", "{}", '"xnli"', '"fun"', '"qa"', "1979-05-27", "[[1]]",
                            "99999999999999999999999", '"\\u00e9"', "'lit'", '"""\nmulti\n"""'])


def toml_value(value) -> str:
    """A value as TOML (inline tables for dicts); JSON's string escapes are TOML's, bar DEL."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


def check(path: Path | None, overrides: list[str]) -> None:
    """The property: a RunConfig, or a ConfigError naming the file, --set or the defaults."""
    try:
        config = load_config(path, overrides)
    except ConfigError as e:
        message = str(e)
        assert message and "\n" not in message.strip(), message  # train.py prints one `error: ...` line
        assert (path is not None and str(path) in message) or "--set" in message or "defaults" in message, message
        event("ConfigError")  # pytest --hypothesis-show-statistics: how often each outcome was reached
        return
    event("loads")
    assert isinstance(config, RunConfig)
    # what loads writes back as TOML that loads to the same configuration (config.toml of a run)
    with tempfile.TemporaryDirectory() as folder:
        again = Path(folder) / "config.toml"
        again.write_text(to_toml(to_dict(config)), encoding="utf-8")
        assert load_config(again) == config


def check_file(data: bytes | str, overrides: list[str] = ()) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        check(path, list(overrides))


# --------------------------------------------------------------------------------------------------
# random TOML text: lines made of the schema's tables and keys, values good and bad, and noise
# --------------------------------------------------------------------------------------------------
LINES = st.one_of(
    st.sampled_from([*TABLES, *SECTIONS]).filter(bool).map(lambda table: f"[{table}]"),
    st.builds(lambda key, value: f"{key} = {value}", st.sampled_from(NAMES + KEYS), LITERALS),
    st.builds(lambda key, value: f"{key} = {toml_value(value)}", st.sampled_from(NAMES + KEYS), VALUES),
    st.text(alphabet=string.printable, max_size=20),
)


@FUZZ
@given(lines=st.lists(LINES, max_size=12), schedule=st.sampled_from([None, *SCHEDULES]))
def test_random_toml_text(lines, schedule):
    check_file("\n".join(lines) + "\n", [f"schedule.name={schedule}"] if schedule else [])


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data):
    check_file(data)


@FUZZ
@given(data=st.data())
def test_demo_config_with_random_byte_changes(data):
    """Mostly valid TOML with odd values: what a stray keystroke does to a real config."""
    original = bytearray(DEMO.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(original) - 1))
        original[at] = data.draw(st.integers(0, 255))
    check_file(bytes(original))


# --------------------------------------------------------------------------------------------------
# random --set options, on the defaults and on a real file
# --------------------------------------------------------------------------------------------------
OVERRIDES = st.lists(st.one_of(
    st.text(max_size=25),
    st.builds(lambda key, raw: f"{key}={raw}", st.sampled_from(KEYS + NAMES + ["train.lr.x", "schedules.fun.k"]),
              st.one_of(LITERALS, st.text(max_size=10))),
    st.builds(lambda key, value: f"{key}={toml_value(value)}", st.sampled_from(KEYS), VALUES),
    st.builds(lambda key, text: f"{key}={toml_value(text)}",  # strings that load, written back to TOML
              st.sampled_from(["name", "model.name", "task.data_dir", "adapters.source_language"]),
              st.text(max_size=10)),
), max_size=4)


@FUZZ
@given(overrides=OVERRIDES, path=st.sampled_from([None, DEMO, PAPER]))
def test_random_set_options(overrides, path):
    check(path, overrides)


# --------------------------------------------------------------------------------------------------
# random trees of the schema's keys with random values: as a file, and through from_dict
# --------------------------------------------------------------------------------------------------
def tree_of(draw) -> dict:
    tree: dict = {}
    for table in draw(st.lists(st.sampled_from(list(TABLES)), max_size=5, unique=True)):
        node = tree
        for part in table.split(".") if table else []:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            keys = draw(st.lists(st.sampled_from(TABLES[table] + ["lrr"]), max_size=4, unique=True))
            node.update({key: draw(VALUES) for key in keys})
    if draw(st.booleans()):
        tree["schedules"] = {draw(st.sampled_from([*SCHEDULES, "gradual"])): {
            draw(st.sampled_from(["train", "schedule", "fisher", "model"])): {
                draw(st.sampled_from(NAMES)): draw(VALUES)}}}
    return tree


@FUZZ
@given(data=st.data(), schedule=st.sampled_from([None, *SCHEDULES]))
def test_random_value_trees(data, schedule):
    tree = tree_of(data.draw)
    check_file(to_toml(tree), [f"schedule.name={schedule}"] if schedule else [])
    tree.pop("schedules", None)
    try:
        assert isinstance(from_dict(tree, "fuzz.json: config"), RunConfig)
    except ConfigError as e:
        assert str(e).startswith("fuzz.json: config"), str(e)
