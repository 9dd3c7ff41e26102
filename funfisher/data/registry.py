"""Which datasets exist, in which languages and splits, and where their files live.

`load_dataset(name, split, lang)` is the one entry point the trainer and evaluator use:

    >>> examples = load_dataset("xnli", "test", lang="de", data_dir="/data")   # doctest: +SKIP
    >>> DATASETS["xnli"].languages, DATASETS["xnli"].splits                   # doctest: +SKIP

The data folder comes from `data_dir`, else the environment variable `FUNFISHER_DATA`, else a clear
error. Inside it, files keep their upstream names (the layout of `shared/data/README.md`):

    xnli/{dev,test}-<lang>.tsv, xnli/test-labels.derived.tsv   (or XNLI-1.0/xnli.{dev,test}.tsv)
    mnli/multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl
    squad/{train,dev}-v1.1.json            (dev falls back to squad/dev-v1.1.reconstructed.json)
    xquad/xquad.<lang>.json
    mlqa/MLQA_V1/{dev,test}/{dev,test}-context-<lang>-question-<lang>.json
    xcopa/data/<lang>/{val,test}.<lang>.jsonl
    copa/{train,val}.jsonl, copa/COPA-resources/datasets/copa-{dev,test}.xml

`fetch(name, data_dir)` downloads exactly these relative paths from a Hugging Face *dataset* repo
that mirrors this layout (see `fetch` for why a mirror and how to choose it).

`load_dataset(..., source="hub")` reads the dataset's canonical hub repo instead (the Parquet files
the hub holds today, e.g. facebook/xnli), and `source="owner/name"` another repo in that layout;
the examples are the ones the local readers give. See `hub_datasets` for the repos and schemas.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .errors import DataNotFoundError, FetchError, UnknownDatasetError
from .examples import ExampleList
from .hub_datasets import LOCAL, check_source, load_from_hub
from .readers import (
    read_copa_jsonl,
    read_copa_xml,
    read_mnli_jsonl,
    read_squad_json,
    read_xnli_original_tsv,
    read_xnli_test_labels,
    read_xnli_tsv,
    with_english_questions,
)

DATA_ENV = "FUNFISHER_DATA"
HUB_REPO_ENV = "FUNFISHER_HUB_DATA_REPO"

XNLI_LANGUAGES = ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
XQUAD_LANGUAGES = ("en", "ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("en", "ar", "de", "es", "hi", "vi", "zh")
XCOPA_LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")

COPA_TEST_XML = "copa/COPA-resources/datasets/copa-test.xml"
COPA_DEV_XML = "copa/COPA-resources/datasets/copa-dev.xml"


@dataclass(frozen=True)
class DatasetSpec:
    """What the project knows about one dataset.

    `files(split, lang)` lists the relative paths `load` reads in the canonical layout (also what
    `fetch` downloads); `load(data_dir, split, lang)` returns the examples. `metric` names how
    predictions are scored: "accuracy", "squad" (SQuAD v1.1 EM/F1) or "mlqa" (MLQA per-language).
    Zero-shot evaluation of a bare adapter folder (`eval.py run`) defaults to `eval_split` and
    every one of `languages`.
    """

    name: str
    task: str  # "classification" | "multiple_choice" | "qa"
    languages: tuple[str, ...]
    splits: tuple[str, ...]
    metric: str
    license: str
    source: str
    files: Callable[[str, str], list[str]] = field(repr=False)
    load: Callable[[Path, str, str], ExampleList] = field(repr=False)
    num_labels: int | None = None
    eval_split: str | None = None  # the split zero-shot evaluation reads unless told otherwise (None: splits[0])


# --------------------------------------------------------------------------------------------------
# data folder and file lookup
# --------------------------------------------------------------------------------------------------
def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $FUNFISHER_DATA, else an error that says how to set it."""
    origin = "the data_dir argument"
    if data_dir is None:
        data_dir, origin = os.environ.get(DATA_ENV), f"${DATA_ENV}"
        if not data_dir:
            raise DataNotFoundError(
                f"no data folder given: pass data_dir=... (or --data-dir) or set the environment variable "
                f"{DATA_ENV} to the folder holding xnli/, xquad/, mlqa/, xcopa/, copa/, squad/, mnli/"
            )
    path = _expand(data_dir)
    try:
        if path.is_dir():
            return path
        problem = "is not a folder" if path.exists() else "does not exist"
    except OSError as err:  # a folder on the way that may not be searched
        problem = f"cannot be read ({err})"
    raise DataNotFoundError(f"data folder {path} {problem} (from {origin})", path=path)


def _expand(folder: str | os.PathLike) -> Path:
    """`Path(folder).expanduser()`, which raises RuntimeError for "~someone" when there is no such user."""
    try:
        return Path(folder).expanduser()
    except RuntimeError as err:
        raise DataNotFoundError(f"data folder {folder}: {err}", path=folder) from None


def _is_file(path: Path) -> bool:
    """`path.is_file()`, but False instead of an OSError (a folder on the way that may not be searched):
    for probing optional layouts; `_require` then reports the problem."""
    try:
        return path.is_file()
    except OSError:
        return False


def _require(data_dir: Path, relpath: str, dataset: str) -> Path:
    path = data_dir / relpath
    try:
        found = path.is_file()
    except OSError as err:  # e.g. permission denied on a folder on the way
        raise DataNotFoundError(f"{dataset}: cannot look for {relpath} in data folder {data_dir} ({err})", path=path) from None
    if not found:
        raise DataNotFoundError(
            f"{dataset}: file {relpath} not found in data folder {data_dir}; "
            f"download it (funfisher.data.fetch({dataset!r}, ...)) or see the dataset's source: {DATASETS[dataset].source}",
            path=path,
        )
    return path


def _unknown(what: str, value: object, available: Iterable[str]) -> UnknownDatasetError:
    """The error for a name the registry does not know: the bad value, the known ones, the closest one."""
    available = list(available)
    close = difflib.get_close_matches(str(value), available, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UnknownDatasetError(f"{what} {value!r}; available: {available}{hint}")


def _spec(name: str) -> DatasetSpec:
    if not isinstance(name, str) or name not in DATASETS:
        raise _unknown("unknown dataset", name, sorted(DATASETS))
    return DATASETS[name]


def _check(spec: DatasetSpec, split: str, lang: str) -> None:
    if split not in spec.splits:
        raise _unknown(f"dataset {spec.name!r} has no split", split, spec.splits)
    if lang not in spec.languages:
        raise _unknown(f"dataset {spec.name!r} has no language", lang, spec.languages)


# --------------------------------------------------------------------------------------------------
# per-dataset file layouts and loaders
# --------------------------------------------------------------------------------------------------
def _xnli_files(split: str, lang: str) -> list[str]:
    files = [f"xnli/{split}-{lang}.tsv"]
    return files + ["xnli/test-labels.derived.tsv"] if split == "test" else files


def _load_xnli(data_dir: Path, split: str, lang: str) -> ExampleList:
    """XTREME per-language files if present, else the original all-language XNLI-1.0 file."""
    per_language = data_dir / f"xnli/{split}-{lang}.tsv"
    original = data_dir / f"XNLI-1.0/xnli.{split}.tsv"
    if not _is_file(per_language) and _is_file(original):
        return read_xnli_original_tsv(original, lang)
    path = _require(data_dir, f"xnli/{split}-{lang}.tsv", "xnli")
    if split == "dev":
        return read_xnli_tsv(path)
    labels_path = _require(data_dir, "xnli/test-labels.derived.tsv", "xnli")
    examples = read_xnli_tsv(path, labels=read_xnli_test_labels(labels_path), labels_path=labels_path)
    examples.notes.append(
        "XNLI test labels from xnli/test-labels.derived.tsv (derived from myXNLI; XTREME strips test labels)"
    )
    return examples


MNLI_SPLITS = {"train": "train", "dev_matched": "dev_matched", "dev_mismatched": "dev_mismatched"}


def _mnli_files(split: str, lang: str) -> list[str]:
    return [f"mnli/multinli_1.0_{split}.jsonl"]


def _load_mnli(data_dir: Path, split: str, lang: str) -> ExampleList:
    # The official zip unpacks into multinli_1.0/; accept that folder name too.
    unpacked = data_dir / f"multinli_1.0/multinli_1.0_{split}.jsonl"
    if _is_file(unpacked):
        return read_mnli_jsonl(unpacked)
    return read_mnli_jsonl(_require(data_dir, _mnli_files(split, lang)[0], "mnli"))


def _squad_files(split: str, lang: str) -> list[str]:
    return [f"squad/{split}-v1.1.json"]


def _load_squad(data_dir: Path, split: str, lang: str) -> ExampleList:
    """The official file if present; for dev, else the reconstructed copy (with a note saying so)."""
    reconstructed = data_dir / "squad/dev-v1.1.reconstructed.json"
    if split == "dev" and not _is_file(data_dir / "squad/dev-v1.1.json") and _is_file(reconstructed):
        examples = read_squad_json(reconstructed)
        examples.notes.append(
            "SQuAD dev read from squad/dev-v1.1.reconstructed.json: texts and ids exact, some answer_start "
            "offsets recomputed (fine for evaluation, not for training)"
        )
        return examples
    return read_squad_json(_require(data_dir, _squad_files(split, lang)[0], "squad"))


def _xquad_files(split: str, lang: str) -> list[str]:
    return [f"xquad/xquad.{lang}.json"]


def _load_xquad(data_dir: Path, split: str, lang: str) -> ExampleList:
    return read_squad_json(_require(data_dir, _xquad_files(split, lang)[0], "xquad"))


def _mlqa_files(split: str, lang: str) -> list[str]:
    return [f"mlqa/MLQA_V1/{split}/{split}-context-{lang}-question-{lang}.json"]


def _load_mlqa(data_dir: Path, split: str, lang: str) -> ExampleList:
    return read_squad_json(_require(data_dir, _mlqa_files(split, lang)[0], "mlqa"))


def _english_copa_file(split: str) -> str:
    """The English COPA file with the items of an XCOPA split (SuperGLUE's test file has no labels)."""
    return "copa/val.jsonl" if split == "val" else COPA_TEST_XML


def _xcopa_files(split: str, lang: str) -> list[str]:
    return [f"xcopa/data/{lang}/{split}.{lang}.jsonl", _english_copa_file(split)]


def english_copa_questions(data_dir: Path, split: str) -> dict[int, str]:
    """English COPA question type per XCOPA `idx`.

    XCOPA val idx i = SuperGLUE COPA val idx i (`copa/val.jsonl`); XCOPA test idx i = official COPA
    item 500 + i + 1 (`copa-test.xml`), since SuperGLUE's test file has no labels to check against.
    """
    path = _require(data_dir, _english_copa_file(split), "copa")
    if split == "val":
        return {int(e.id): e.question for e in read_copa_jsonl(path)}
    return {int(e.id) - 501: e.question for e in read_copa_xml(path)}


def _load_xcopa(data_dir: Path, split: str, lang: str) -> ExampleList:
    path = _require(data_dir, f"xcopa/data/{lang}/{split}.{lang}.jsonl", "xcopa")
    examples = read_copa_jsonl(path)
    english = english_copa_questions(data_dir, split)
    source = "copa/val.jsonl" if split == "val" else "copa-test.xml (item 501+idx)"
    english_path = data_dir / _english_copa_file(split)
    return with_english_questions(examples, english, path=path, english_path=english_path, source=source)


def _copa_files(split: str, lang: str) -> list[str]:
    return [COPA_TEST_XML] if split == "test" else [f"copa/{split}.jsonl"]


def _load_copa(data_dir: Path, split: str, lang: str) -> ExampleList:
    """train/val: SuperGLUE jsonl (400/100); test: official XML, the only labelled English test set."""
    if split == "test":
        examples = read_copa_xml(_require(data_dir, COPA_TEST_XML, "copa"))
        return ExampleList(examples, ["COPA test read from the official copa-test.xml (ids 501..1000)"])
    return read_copa_jsonl(_require(data_dir, f"copa/{split}.jsonl", "copa"))


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            "xnli", "classification", XNLI_LANGUAGES, ("dev", "test"), "accuracy", "CC BY-NC 4.0",
            "https://github.com/facebookresearch/XNLI (XTREME per-language files: github.com/google-research/xtreme)",
            _xnli_files, _load_xnli, num_labels=3, eval_split="dev",
        ),
        DatasetSpec(
            "mnli", "classification", ("en",), tuple(MNLI_SPLITS), "accuracy", "mixed (see MultiNLI data description)",
            "https://cims.nyu.edu/~sbowman/multinli/multinli_1.0.zip",
            _mnli_files, _load_mnli, num_labels=3, eval_split="dev_matched",
        ),
        DatasetSpec(
            "squad", "qa", ("en",), ("train", "dev"), "squad", "CC BY-SA 4.0",
            "https://rajpurkar.github.io/SQuAD-explorer/ (train-v1.1.json, dev-v1.1.json)",
            _squad_files, _load_squad, eval_split="dev",
        ),
        DatasetSpec(
            "xquad", "qa", XQUAD_LANGUAGES, ("test",), "squad", "CC BY-SA 4.0",
            "https://github.com/google-deepmind/xquad",
            _xquad_files, _load_xquad, eval_split="test",
        ),
        DatasetSpec(
            "mlqa", "qa", MLQA_LANGUAGES, ("dev", "test"), "mlqa", "CC BY-SA 3.0",
            "https://dl.fbaipublicfiles.com/MLQA/MLQA_V1.zip",
            _mlqa_files, _load_mlqa, eval_split="dev",
        ),
        DatasetSpec(
            "xcopa", "multiple_choice", XCOPA_LANGUAGES, ("val", "test"), "accuracy", "CC BY 4.0",
            "https://github.com/cambridgeltl/xcopa (question types from English COPA)",
            _xcopa_files, _load_xcopa, eval_split="test",
        ),
        DatasetSpec(
            "copa", "multiple_choice", ("en",), ("train", "val", "test"), "accuracy", "BSD 2-Clause",
            "SuperGLUE COPA jsonl (train/val) and https://asgordon.github.io/copa.html (COPA-resources.tgz, test)",
            _copa_files, _load_copa, eval_split="val",
        ),
    ]
}


def load_dataset(name: str, split: str, lang: str = "en", data_dir: str | os.PathLike | None = None,
                 source: str = LOCAL) -> ExampleList:
    """Read one split of one language of a registered dataset.

    `source`: "local" (the default) reads the data folder (`data_dir`, else $FUNFISHER_DATA);
    "hub" reads the dataset's canonical Hugging Face dataset repo and an "owner/name" id another
    repo in the same layout, through the HF cache (`hub_datasets`; `data_dir` is not used then).

    Raises `UnknownDatasetError` for a name, split, language or source the registry does not know,
    `DataNotFoundError` for a missing data folder or file, `DataFormatError` for a broken file,
    `FetchError` when the hub (or, offline, the HF cache) does not have the files.
    """
    spec = _spec(name)
    _check(spec, split, lang)
    if check_source(source) == LOCAL:
        return spec.load(resolve_data_dir(data_dir), split, lang)
    return load_from_hub(name, split, lang, source)


# --------------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------------
def dataset_files(name: str, splits: Iterable[str] | None = None, languages: Iterable[str] | None = None) -> list[str]:
    """All relative paths (canonical layout) needed for the given splits/languages of a dataset."""
    spec = _spec(name)
    wanted: list[str] = []
    for split in splits or spec.splits:
        for lang in languages or spec.languages:
            _check(spec, split, lang)
            for relpath in spec.files(split, lang):
                if relpath not in wanted:
                    wanted.append(relpath)
    return wanted


def fetch(
    name: str,
    data_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    splits: Iterable[str] | None = None,
    languages: Iterable[str] | None = None,
) -> list[Path]:
    """Download a dataset's files into `data_dir` with `huggingface_hub.hf_hub_download`.

    Source: the public Hugging Face *dataset* repo `repo_id` (else $FUNFISHER_HUB_DATA_REPO), which
    must hold the files at the same relative paths as the local layout (module docstring), e.g.
    `xquad/xquad.de.json`. Why a mirror: the canonical Hub repos of these benchmarks (google/xquad,
    facebook/xnli, facebook/mlqa, cambridgeltl/xcopa, rajpurkar/squad) now hold Parquet conversions,
    not the original files whose quirks this package documents and handles (and reading Parquet would
    add a dependency). The original upstream locations are in `DATASETS[name].source`.

    Offline (HF_HUB_OFFLINE=1) or on any download failure this raises `FetchError` naming the repo
    and file; files already present locally are not downloaded again. Returns the local paths.
    """
    relpaths = dataset_files(name, splits, languages)
    target = _expand(data_dir)
    missing = [rel for rel in relpaths if not _is_file(target / rel)]
    if not missing:
        return [target / rel for rel in relpaths]
    repo_id = repo_id or os.environ.get(HUB_REPO_ENV)
    if not repo_id:
        raise FetchError(
            f"cannot fetch {name!r}: no Hub dataset repo given. Pass repo_id=... or set {HUB_REPO_ENV} to a public "
            f"dataset repo mirroring the data layout; or download the files yourself from {DATASETS[name].source} "
            f"into {target} (needed: {missing[:3]}{' ...' if len(missing) > 3 else ''})"
        )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise FetchError(
            f"cannot fetch {name!r} from {repo_id}: HF_HUB_OFFLINE is set and {len(missing)} file(s) are missing "
            f"in {target}, e.g. {missing[0]}. Unset HF_HUB_OFFLINE or copy the files there."
        )
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as err:  # pragma: no cover - huggingface_hub is a declared dependency
        raise FetchError("fetch needs the huggingface_hub package") from err
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, no permission
        raise FetchError(f"cannot fetch {name!r}: cannot create the data folder {target} ({err})") from None
    for rel in missing:
        try:
            hf_hub_download(repo_id=repo_id, filename=rel, repo_type="dataset", revision=revision, local_dir=target)
        except Exception as err:  # network, 404, auth: all become one clear message
            raise FetchError(f"could not download {rel} from Hub dataset repo {repo_id}: {type(err).__name__}: {err}") from err
    return [target / rel for rel in relpaths]
