"""The files a run writes per profile: `REPORTS`, the one table of file name -> renderer.

`write` renders one profile's document with every renderer of the table and writes each file
under `<reports-dir>/<profile>/` (`write_all` does so for a run's documents, writing in threads
while the next file renders), atomically and never through a symbolic link
(`files.write_text`, `files.write_bytes`). A renderer is a pure function of the
document that returns the file's text (or bytes); a new report is one module with a `render`,
its file name in `FILES` and its `render` in `_renderers` (imported there, when a report is
first written: collection needs the file names only). At the start of a run the previous
reports of its profiles are removed (`remove_previous`), so an interrupted run leaves no report
that reads as the current result; `check_reports_dir` refuses, before any request, a folder the
reports cannot be written to.

One file covers every profile of a run: the metrics file of `--metrics-file`
(`metrics.render(documents)`, written by `write_metrics`, checked before any request by
`check_metrics_file`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from cpi_preflight import files
from cpi_preflight.errors import ConfigError
from cpi_preflight.files import message_path

if TYPE_CHECKING:
    from cpi_preflight.reporting.document import Document

Renderer = Callable[["Document"], str | bytes]
FILES = ("junit.xml", "evidence.json", "evidence.html", "exchanges.har")  # the table's order


@functools.cache
def _renderers() -> dict[str, Renderer]:
    # imported when a report is first written: the renderers need the document (and through it
    # the HTTP layer), which start-up and collection never do
    from cpi_preflight.reporting import evidence, har, html, junit

    return {"junit.xml": junit.render, "evidence.json": evidence.render,
            "evidence.html": html.render, "exchanges.har": har.render}


class _Table(Mapping[str, Renderer]):
    """`REPORTS`: the file names are known at once (the checks before a run need only them);
    each renderer is imported when first looked up."""

    def __getitem__(self, name: str) -> Renderer:
        return _renderers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(FILES)

    def __len__(self) -> int:
        return len(FILES)


REPORTS: Mapping[str, Renderer] = _Table()


def write(reports_dir: Path, document: Document) -> list[Path]:
    """Write every report of `document` into `<reports_dir>/<profile>/`, in table order."""
    return write_all(reports_dir, [document])


WRITERS = 4  # threads that write (and sync to disk) while the next report renders


def write_all(reports_dir: Path, documents: Sequence[Document]) -> list[Path]:
    """`write` for each of `documents`, in their order: each file is rendered here and written
    by one of `WRITERS` threads meanwhile, so that waiting for the disk (each file is synced
    before it replaces the old one) overlaps rendering the next. The first failure is raised
    once every write already begun has ended."""
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="reports") as pool:
        pending = [pool.submit(_write, reports_dir / document.name / name, render(document))
                   for document in documents for name, render in REPORTS.items()]
        return [future.result() for future in pending]


def _write(path: Path, content: str | bytes) -> Path:
    return (files.write_text(path, content) if isinstance(content, str)
            else files.write_bytes(path, content))


def check_reports_dir(reports_dir: Path, names: Iterable[str]) -> None:
    """Before any request: `reports_dir` must be (or become) a writable folder, and no report
    a run writes may be a symbolic link. Raises `ConfigError` (a usage error, exit 4)."""
    option = f"--reports-dir {reports_dir}"
    try:
        files.check_writable_dir(reports_dir)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and exc.filename != str(reports_dir) else ""
        raise ConfigError(f"{option}: cannot write reports there{where}: {exc.strerror}; "
                          "give a writable folder with --reports-dir=DIR") from None
    for name in names:
        folder = reports_dir / name
        for path in (folder, *(folder / f for f in REPORTS)):
            if path.is_symlink():
                raise ConfigError(f"{option}: {path} is a symbolic link; cpi-preflight does "
                                  "not write through links: remove it, or choose another "
                                  "--reports-dir")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{option}: {folder} is not a folder; remove it or choose "
                              "another --reports-dir")


def remove_previous(reports_dir: Path, names: Iterable[str]) -> None:
    """Delete the reports an earlier run wrote for `names` (links themselves, not targets)."""
    for name in names:
        for report in REPORTS:
            (reports_dir / name / report).unlink(missing_ok=True)


def write_metrics(path: Path, documents: Sequence[Document]) -> Path:
    """Write the metrics file of a run's documents to `path`, atomically (a temporary file in
    the same folder, renamed over it: node_exporter never reads half a file)."""
    from cpi_preflight.reporting import metrics  # a renderer: only a run writes it

    return files.write_text(path, metrics.render(documents))


def check_metrics_file(path: Path) -> None:
    """Before any request: `path` must be a file cpi-preflight can write (its folder is
    created), neither it nor its folder a symbolic link. Raises `ConfigError` (exit 4)."""
    option = f"--metrics-file {message_path(path)}"
    if path.is_dir() and not path.is_symlink():
        raise ConfigError(f"{option}: is a folder; name a file in it, such as "
                          f"--metrics-file={message_path(path / 'cpi-preflight.prom')}")
    for link in (path.parent, path):
        if link.is_symlink():
            what = "" if link == path else f"its folder {message_path(link)} "
            raise ConfigError(f"{option}: {what}is a symbolic link; cpi-preflight does not "
                              "write through links: remove it, or name another file")
    try:
        files.check_writable_dir(path.parent)
    except OSError as exc:
        raise ConfigError(f"{option}: cannot write in {message_path(path.parent)}: "
                          f"{exc.strerror}; give a file in a writable folder with "
                          "--metrics-file=PATH") from None
