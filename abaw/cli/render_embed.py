"""Drawing the embeddings' results, and the command that makes missing embeddings."""

from __future__ import annotations

import shlex
from collections import Counter
from typing import TYPE_CHECKING

from rich.table import Table

from abaw.cli.render_audio import dataset_words
from abaw.data.embeddings import EmbeddingsNotReady
from abaw.data.embeddings.cache import EMBEDDINGS_FOLDER, read_encoder_record

if TYPE_CHECKING:  # the extraction pulls in torch; the error line must not
    from abaw.prediction.embed import EmbeddingReport


def embeddings_command(error: EmbeddingsNotReady) -> str:
    """The ``abaw features embed`` command line that (re)extracts the embeddings ``error`` misses.

    An encoder's cache (its ``encoder.json``) is extracted again with the
    same encoder, weights file, input size and normalisation.
    """
    dataset = dataset_words(error.layout)
    record = read_encoder_record(error.layout.cache_dir / EMBEDDINGS_FOLDER / error.name)
    if record is not None:
        numbers = {key: ",".join(f"{value:g}" for value in record["mean" if key == "--mean" else "std"])
                   for key in ("--mean", "--std")}  # fmt: skip
        return (
            f"abaw features embed --encoder {record['encoder']} --weights {shlex.quote(str(record['weights']))} "
            f"--input-size {record['input_size']} --mean {numbers['--mean']} --std {numbers['--std']} "
            f"{dataset} --name {error.name}"
        )
    checkpoint = "CHECKPOINT" if error.checkpoint is None else shlex.quote(str(error.checkpoint))
    return f"abaw features embed --checkpoint {checkpoint} {dataset} --name {error.name}"


def embed_report_table(report: EmbeddingReport) -> Table:
    """The report of ``abaw features embed`` as a ``rich`` table, one figure per row."""
    kinds = " + ".join(f"{kind.kind} {kind.dim}" for kind in report.kinds)
    table = Table(title=f"Embeddings {report.name}: {report.dim} values per frame ({kinds})", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    if report.encoder is not None:
        encoder = report.encoder
        table.add_row("encoder", f"{report.variant}, weights {report.checkpoint}")
        table.add_row("weights SHA-256", encoder["weights_sha256"][:16])
        table.add_row("input", f"{encoder['input_size']} px, mean {encoder['mean']}, std {encoder['std']}")
    else:
        table.add_row("checkpoint", f"{report.checkpoint} ({report.variant})")
    table.add_row("fingerprint (SHA-256)", report.fingerprint[:16])
    table.add_row("entries", str(report.entries))
    table.add_row("extracted", str(report.written))
    table.add_row("skipped (up to date)", str(report.skipped))
    if report.stale:
        reasons = Counter(report.stale.values()).most_common()
        table.add_row("extracted because", "; ".join(f"{reason}: {count}" for reason, count in reasons))
    table.add_row("face frames embedded", f"{report.frames:,}")
    table.add_row("rows written", f"{report.rows:,}")
    table.add_row("speed", f"{report.frames_per_second:,.0f} frames/s on {report.device}")
    table.add_row("time", f"{report.seconds:.1f} s")
    table.add_row("written to", str(report.folder))
    return table
