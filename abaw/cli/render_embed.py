"""Drawing the embeddings' results, and the command that makes missing embeddings."""

from __future__ import annotations

import shlex
from collections import Counter
from typing import TYPE_CHECKING

from rich.table import Table

from abaw.cli.render_audio import dataset_words
from abaw.data.embeddings import EmbeddingsNotReady

if TYPE_CHECKING:  # the extraction pulls in torch; the error line must not
    from abaw.prediction.embed import EmbeddingReport


def embeddings_command(error: EmbeddingsNotReady) -> str:
    """The ``abaw features embed`` command line that (re)extracts the embeddings ``error`` misses."""
    checkpoint = "CHECKPOINT" if error.checkpoint is None else shlex.quote(str(error.checkpoint))
    return f"abaw features embed --checkpoint {checkpoint} {dataset_words(error.layout)} --name {error.name}"


def embed_report_table(report: EmbeddingReport) -> Table:
    """The report of ``abaw features embed`` as a ``rich`` table, one figure per row."""
    kinds = " + ".join(f"{kind.kind} {kind.dim}" for kind in report.kinds)
    table = Table(title=f"Embeddings {report.name}: {report.dim} values per frame ({kinds})", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
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
