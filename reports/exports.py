"""Text exports of the leaderboard and ablations: Markdown (for stdout and READMEs), CSV, LaTeX.

Every export shows the same three blocks, in this order and never merged: measured
methods (mean and 95% CI, marks against the baseline, status), our real-image oracle,
and the published rows under a heading that names their source. A random-weight or
smoke run leads with its NOT MEANINGFUL or SMOKE RUN banner in every text format (LaTeX:
comment lines and the caption, since a table is pasted without its comments), and every
CSV row says whether its method is `complete` and `meaningful`: a CSV has no place for a
banner, and its rows are read one by one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmark.metrics.registry import METRICS
from reports.ablations import AblationResult, ablation_frame, build_ablations, incomplete_legend, shortfall
from reports.banner import (
    mixed_scoring_banners,
    pocket_banners,
    protocol_banners,
    report_banners,
    smoke_run_banners,
    uncommitted_code_banners,
)
from reports.formatting import (
    NA,
    SIGNIFICANCE_MARKS,
    arrow,
    fmt,
    fmt_ci,
    fmt_estimate,
    fmt_memory,
    fmt_p,
    fmt_signed,
    fmt_training_time,
    memory_unit,
    metric_header,
    missing,
)
from reports.leaderboard import (
    LEADERBOARD_METRICS,
    Cell,
    Leaderboard,
    build_leaderboard,
    leaderboard_frame,
    published_frame,
)
from reports.loading import ReportData, load_runs
from reports.tables import per_category_table, per_subject_table

PUBLISHED_CAVEAT = "Published numbers come from other code and mostly other backbones: compare trends, not values."
# in leaderboard.md, what follows the leaderboard itself
ABLATIONS_HEADING = "\n## Ablations\n\n"


def _as_data(source: ReportData | Sequence[Path]) -> ReportData:
    return source if isinstance(source, ReportData) else load_runs([Path(p) for p in source])


def _cell_text(cell: Cell | None) -> str:
    if cell is None or missing(cell.mean):
        return NA
    mark = SIGNIFICANCE_MARKS.get(cell.verdict or "", "")
    text = fmt_estimate(cell.mean, cell.ci_low, cell.ci_high, n_subjects=cell.n_subjects)
    return f"{text}{(' ' + mark) if mark else ''}"


def _training_text(training: dict, memory: str | None = None) -> str:
    if training.get("external"):
        return "not measured (external)"
    if missing(training["train_seconds"]):
        return "no training"
    time = fmt_training_time(training["train_seconds"], training["device"])
    return f"{time}, {fmt_memory(training['peak_memory_mb'], memory)}"


def md(text: object) -> str:
    """Text from a run (a label holding an option's value, a plug-in's device or notes) as Markdown shows it
    literally: a viewer renders raw HTML (`<img onerror=...>` in a label would run in a README or a PR),
    and a `|` would split a table cell. `<`, `>` and `&` become entities, which every viewer shows as the
    characters themselves; the CSV files keep the text as it is, a label being what names a method's folder."""
    return html.escape(str(text), quote=False).replace("|", "\\|")


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(map(md, header)) + " |", "|" + " --- |" * len(header)] + [
        "| " + " | ".join(map(md, r)) + " |" for r in rows
    ]


def board_markdown(board: Leaderboard, data: ReportData) -> str:
    """The leaderboard as Markdown (see the module docstring for its blocks)."""
    lines = [f"> **{md(line)}**" for line in (*report_banners(data), *pocket_banners(data), *protocol_banners(data))]
    if lines:
        lines.append("")
    heads = [metric_header(m) for m in board.metrics]
    rows = []
    # one unit for the column
    memory = memory_unit(row.training.get("peak_memory_mb") for row in board.rows)
    for row in board.rows:
        name = f"{row.key} (baseline)" if row.is_baseline else row.key
        status = row.status if row.complete else f"**{row.status}**"
        cells = [_cell_text(row.cells.get(m)) for m in board.metrics]
        rows.append([name, *cells, _training_text(row.training, memory), status])
    for oracle in board.oracle:
        label = "real images (oracle)" + (f", {oracle.run}" if len(board.oracle) > 1 else "")
        rows.append([label, *[_cell_text(oracle.cells.get(m)) for m in board.metrics], "", "reference"])
    lines += _markdown_table(["method", *heads, "training (time, peak memory)", "status"], rows)
    lines.append("")
    if board.baseline:
        marks = (
            f"▲/▼: significantly better/worse than the baseline `{board.baseline}` "
            "(paired Wilcoxon over subjects, p < 0.05)."
        )
    else:
        marks = "No baseline: no significance marks (name one with --baseline)."
    lines.append(f"Mean over subjects [95% CI, bootstrap over subjects]. {marks}")
    note = significance_note(board) if board.baseline else None
    if note:
        lines.append(note)
    if board.incomplete:
        lines.append(
            "INCOMPLETE rows average over fewer subjects, prompts or images than the protocol: "
            "do not rank them against complete rows."
        )
    lines += ["", "Published (DreamBooth paper; not measured here). " + PUBLISHED_CAVEAT, ""]
    metrics = board.metrics or list(LEADERBOARD_METRICS[:3])
    published = [
        [row.setting, row.source, row.backbone, *[fmt(row.values.get(m)) for m in metrics]] for row in board.published
    ]
    lines += _markdown_table(["published row", "source", "backbone", *map(metric_header, metrics)], published)
    return "\n".join(lines) + "\n"


def _counts_text(counts: dict[str, list[int]]) -> str:
    """'base 5, dreambooth 3' (a range, '2-3', for a row whose metrics differ)."""
    return ", ".join(
        f"{key} {min(ns)}" if min(ns) == max(ns) else f"{key} {min(ns)}-{max(ns)}" for key, ns in counts.items()
    )


def significance_note(board: Leaderboard) -> str | None:
    """Why some or all comparisons with the baseline cannot be significant, for tables without an n column.

    The HTML prints board.significance_note under a comparisons table with an n-subjects column it
    points at; Markdown and LaTeX have no such column, so where the rows pair different numbers of
    subjects this note says each row's n itself.
    """
    from benchmark.metrics.statistics import SIGNIFICANCE_LEVEL, min_subjects_for, smallest_wilcoxon_p

    note = board.significance_note
    if note is None:
        return None
    counts: dict[str, list[int]] = {}
    for line in board.comparisons.itertuples(index=False):
        counts.setdefault(str(line.method_b), []).append(int(line.n_subjects))
    every = sorted({n for ns in counts.values() for n in ns})
    if len(every) <= 1:
        # one n for every comparison: the note states it
        return note
    needed = min_subjects_for(SIGNIFICANCE_LEVEL)
    floors = [f"{smallest_wilcoxon_p(n):.3g} over {n} subject(s)" for n in every if n < needed]
    floors_text = floors[0] if len(floors) == 1 else ", ".join(floors[:-1]) + f" and {floors[-1]}"
    return (
        f"Comparisons with the baseline pair {every[0]} to {every[-1]} subjects (n per row: {_counts_text(counts)}). "
        f"The smallest possible Wilcoxon p is {floors_text}: a row on fewer than {needed} subjects cannot reach "
        f"p < {SIGNIFICANCE_LEVEL:g}, however large the difference."
    )


def markdown_leaderboard(source: ReportData | Sequence[Path], *, baseline: str | None = None) -> str:
    """The leaderboard of one or more runs as Markdown: what `bench report` prints, without writing a report."""
    data = _as_data(source)
    return board_markdown(build_leaderboard(data, baseline), data)


def ablation_unavailable(result: AblationResult) -> str:
    """Why an ablation has no table, in plain text (HTML says the same with markup)."""
    if result.missing:
        return f"Not in these runs: needs {', '.join(result.missing)}"
    return (
        f"Not built: its arms ran with different options ({', '.join(result.mixed)}), "
        "and one table never mixes settings"
    )


def _ablation_notes(result: AblationResult) -> list[str]:
    """The lines under an ablation table: which arms cover which subjects, and what each † means."""
    notes = [result.coverage_note] if result.coverage_note else []
    return notes + ([f"† {result.incomplete_note}"] if result.incomplete_note else [])


def ablation_markdown(result: AblationResult) -> str:
    ablation = result.ablation
    lines = [f"### {ablation.title}", ""]
    if not result.available:
        lines.append(f"{ablation_unavailable(result)} (`{result.hint}`).")
        return "\n".join(lines) + "\n"
    if result.options:
        lines += [f"Every arm ran with the options {md(result.options)}.", ""]
    if result.code_warning:
        lines += [f"**{md(result.code_warning)}**", ""]
    lines += [
        "| arm | method | metric | ours [95% CI] | published | Δ ours vs first row [95% CI] | p | Δ published |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for line in ablation_frame(result).itertuples(index=False):
        delta = p_value = published_delta = ""
        if not line.reference:
            delta = fmt_estimate(line.delta, line.delta_ci_low, line.delta_ci_high, signed=True)
            p_value, published_delta = fmt_p(line.delta_p), fmt_signed(line.published_delta)
        ours = fmt_estimate(line.ours_mean, line.ours_ci_low, line.ours_ci_high, n_subjects=line.ours_n_subjects)
        lines.append(
            f"| {md(line.arm)}{'' if line.complete else ' †'} | {md(line.method)} | {METRICS[line.metric].name} "
            f"{arrow(line.metric)} | "
            f"{ours} | {fmt(line.published)} | {delta} | {p_value} | {published_delta} |"
        )
    lines.append("")
    lines += [f"{md(note)}\n" for note in _ablation_notes(result)]
    lines.append(f"Published: {result.source or 'none (' + result.no_source + ')'}.")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- CSV
def _with_status(frame: pd.DataFrame, data: ReportData, *key_columns: str) -> pd.DataFrame:
    """`complete` and `meaningful` columns: true only when every method a row names is (both, for a comparison)."""
    frame = frame.copy()
    rows = list(zip(*(frame[column] for column in key_columns), strict=True))
    for flag in ("complete", "meaningful"):
        frame[flag] = [all(getattr(data.methods.get(key), flag, False) for key in keys) for keys in rows]
    return frame


def write_csv(data: ReportData, board: Leaderboard, ablations: list[AblationResult], out_dir: Path) -> list[Path]:
    """leaderboard.csv (measured + oracle), published.csv, per_subject.csv, per_category.csv, ablations.csv.

    comparisons.csv's `complete` and `meaningful` hold for the pair: a difference is only as good
    as the worse of its two methods.
    """
    out_dir = Path(out_dir)
    frames = {
        "leaderboard.csv": leaderboard_frame(board),
        "published.csv": published_frame(board),
        "per_subject.csv": _with_status(per_subject_table(data), data, "method"),
        "per_category.csv": _with_status(per_category_table(data), data, "method"),
        "comparisons.csv": _with_status(board.comparisons, data, "method_a", "method_b"),
    }
    available = [ablation_frame(a) for a in ablations if a.available]
    frames["ablations.csv"] = pd.concat(available, ignore_index=True) if available else pd.DataFrame()
    written = []
    for name, frame in frames.items():
        path = out_dir / name
        frame.to_csv(path, index=False, float_format="%.6f")
        written.append(path)
    return written


# --------------------------------------------------------------------- LaTeX
LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    # OT1, LaTeX's default font encoding, prints '<' as '¡', '>' as '¿' and '|' as an em-dash in text
    "<": "$<$",
    ">": "$>$",
    "|": r"\textbar{}",
    # what the Markdown and HTML say beyond ASCII: pdflatex stops at a character it has no mapping for
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "Δ": r"$\Delta$",
    "▲": r"$\blacktriangle$",
    "▼": r"$\blacktriangledown$",
    "−": "$-$",
    "–": "--",
    "—": "---",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "±": r"$\pm$",
    "…": r"\ldots{}",
    "→": r"$\rightarrow$",
}
# What reads as markup in plain text: `code`, a --flag, 'quoted' and "quoted" words.
TEX_MARKUP = re.compile(r"`([^`\n]+)`|(?<![\w-])--([A-Za-z][\w-]*)|(?<!\w)'([^'\n]+)'(?!\w)|\"([^\"\n]*)\"")


def _tex_chars(text: str) -> str:
    """Character by character: the specials escaped, and '--' kept as two hyphens (TeX makes it an en-dash)."""
    out = []
    for index, ch in enumerate(text):
        out.append("-{}" if ch == "-" and text[index + 1 : index + 2] == "-" else LATEX_SPECIAL.get(ch, ch))
    return "".join(out)


def tex(text: str) -> str:
    r"""Plain text (captions, notes, names) as LaTeX prints it under the default OT1 encoding.

    Beyond the escapes, what TeX would silently turn into something else: '--folder' would print
    an en-dash (it becomes \texttt{-{}-folder}), straight quotes print as closing quotes (they
    become `...' and ``...''), `code` gets typewriter type.
    """
    text, out, last = str(text), [], 0
    for match in TEX_MARKUP.finditer(text):
        out.append(_tex_chars(text[last : match.start()]))
        code, flag, single, double = match.groups()
        if code is not None:
            out.append(rf"\texttt{{{_tex_chars(code)}}}")
        elif flag is not None:
            out.append(rf"\texttt{{-{{}}-{_tex_chars(flag)}}}")
        else:
            # !` and ?` are ligatures: ¡ and ¿
            opening = "{}" if out and out[-1][-1:] in ("!", "?") else ""
            out.append(f"{opening}`{tex(single)}'" if single is not None else f"{opening}``{tex(double)}''")
        last = match.end()
    out.append(_tex_chars(text[last:]))
    return "".join(out)


def _tex_number(value, low=None, high=None, *, signed: bool = False) -> str:
    """'0.766 {\\scriptsize [0.607, 0.882]}' (the CI only where there is one), all three in one notation."""
    cell = (value, low, high)
    text = fmt_signed(value, cell=cell) if signed else fmt(value, cell=cell)
    if not missing(value) and not missing(low) and not missing(high):
        text += rf" {{\scriptsize {fmt_ci(low, high, cell=cell)}}}"
    return text


def _tex_cell(cell: Cell | None) -> str:
    if cell is None or missing(cell.mean):
        return NA
    mark = {"better": r"$^\blacktriangle$", "worse": r"$^\blacktriangledown$"}.get(cell.verdict or "", "")
    return _tex_number(cell.mean, cell.ci_low, cell.ci_high) + mark


def _latex_banners(data: ReportData) -> list[str]:
    """The report's NOT MEANINGFUL, SMOKE RUN and SUBSET lines as LaTeX comments, for the top of a .tex file."""
    return _comments([*report_banners(data), *pocket_banners(data), *protocol_banners(data)])


def _comments(lines: list[str]) -> list[str]:
    """Each line as a LaTeX comment; one holding a line break becomes several, so none of it escapes the %."""
    return [f"% {part}" for line in lines for part in str(line).splitlines()]


# The packages a table's commands come from; everything else a .tex file uses is in the LaTeX kernel.
LATEX_PACKAGES = {
    "booktabs": (r"\toprule", r"\midrule", r"\bottomrule"),
    "amssymb": (r"\blacktriangle", r"\blacktriangledown"),
}


def _package_comments(tables: str) -> list[str]:
    """Comment lines naming the packages `tables` needs (those of LATEX_PACKAGES whose commands it holds).

    Read from the tables themselves, so the list can neither miss a package nor name one no longer used.
    """
    body = "\n".join(line for line in tables.splitlines() if not line.lstrip().startswith("%"))
    used = {
        package: [command for command in commands if re.search(re.escape(command) + r"(?![A-Za-z])", body)]
        for package, commands in LATEX_PACKAGES.items()
    }
    lines = [
        f"%   \\usepackage{{{package}}}  % {', '.join(commands)}" for package, commands in used.items() if commands
    ]
    if not lines:
        return ["% Needs no LaTeX package."]
    return [
        "% Needs in the preamble (the text is escaped for LaTeX's default OT1 font encoding: nothing else):",
        *lines,
    ]


def _latex_file(comments: list[str], tables: list[str]) -> str:
    """A .tex file: the warning comments first (a smoke or random-weight run leads with them), then the packages
    its tables need, then the tables."""
    body = "\n".join(tables)
    return "\n".join([*comments, *_package_comments(body), body]).rstrip("\n") + "\n"


def _subjects_measured(data: ReportData, board: Leaderboard) -> str:
    """'Measured on DreamBench' for runs on every subject, else how many of them the rows average, each row's n
    where they differ: a caption travels without the banners."""
    from dataset.protocol import load_protocol

    total = len(load_protocol().subjects)
    if all(len(run.subjects) >= total for run in data.runs if run.subjects):
        return "Measured on DreamBench"
    counts = {row.key: [row.n_subjects_scored] for row in board.rows if row.scored and row.n_subjects_scored}
    every = sorted({n for ns in counts.values() for n in ns}) or sorted({len(run.subjects) for run in data.runs})
    if len(every) == 1:
        return f"Measured on {every[0]} of DreamBench's {total} subjects (a subset)"
    return (
        f"Rows average {every[0]} to {every[-1]} of DreamBench's {total} subjects "
        f"(a subset; n per row: {tex(_counts_text(counts))})"
    )


def _smoke_caption(data: ReportData) -> str:
    """The SMOKE RUN, MIXED SCORING and UNCOMMITTED CODE lines for a caption: authors delete a .tex file's
    comments, and the caption is what is left."""
    lines = [*smoke_run_banners(data), *mixed_scoring_banners(data), *uncommitted_code_banners(data)]
    out = []
    for line in lines:
        head, _, rest = line.partition(": ")
        out.append(rf" \textbf{{{tex(head)}:}} {tex(rest)}")
    return "".join(out)


EXTERNAL_CAPTION = (
    r" $^\ddagger$another tool's images (\texttt{bench score -{}-folder}): no seeds or training recorded."
)
NOT_MEANINGFUL_CAPTION = r" \textbf{NOT MEANINGFUL: random-weight models.}"


def _dagger_caption(shortfalls: dict[str, str]) -> str:
    r"""What the caption's $^\dagger$ means, row by row: a generic 'incomplete' leaves the reader to guess which
    subjects, prompts or metrics a row lacks."""
    return rf" $^\dagger${tex(incomplete_legend(shortfalls))}" if shortfalls else ""


def _row_shortfall(row, data: ReportData) -> str:
    method = data.methods.get(row.key)
    return shortfall(method) if method is not None else row.status


def latex_leaderboard(board: Leaderboard, data: ReportData) -> str:
    """Two booktabs tables: our measured rows and oracle, then the published rows; the file's comments say which
    packages they need."""
    heads = " & ".join(tex(metric_header(m)) for m in board.metrics)
    cols = "l" + "c" * len(board.metrics)
    out = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        f"Method & {heads} \\\\",
        r"\midrule",
    ]
    for row in board.rows:
        name = tex(row.key) + ("" if row.complete else r"$^\dagger$")
        name += r"$^\ddagger$" if row.training.get("external") else ""
        out.append(name + " & " + " & ".join(_tex_cell(row.cells.get(m)) for m in board.metrics) + r" \\")
    if board.oracle:
        out.append(r"\midrule")
    for oracle in board.oracle:
        out.append(
            "Real images (oracle) & " + " & ".join(_tex_cell(oracle.cells.get(m)) for m in board.metrics) + r" \\"
        )
    caption = f"{_subjects_measured(data, board)}: mean over subjects with 95\\% bootstrap CI."
    if board.baseline:
        caption += rf" $\blacktriangle$/$\blacktriangledown$: significantly better/worse than {tex(board.baseline)}."
    caption += _dagger_caption({row.key: _row_shortfall(row, data) for row in board.incomplete})
    if any(row.training.get("external") for row in board.rows):
        caption += EXTERNAL_CAPTION
    note = significance_note(board) if board.baseline else None
    if note:
        caption += " " + tex(note)
    caption += _smoke_caption(data)
    if not data.meaningful:
        caption += NOT_MEANINGFUL_CAPTION
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}", r"\end{table}", ""]
    out += [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{ll{'c' * len(board.metrics)}}}",
        r"\toprule",
        f"Published (DreamBooth paper) & Backbone & {heads} \\\\",
        r"\midrule",
    ]
    for row in board.published:
        values = " & ".join(fmt(row.values.get(m)) if m in row.values else NA for m in board.metrics)
        out.append(f"{tex(row.setting)} & {tex(row.backbone)} & {values} \\\\")
    out += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{Published in the DreamBooth paper, {tex(board.published[0].table if board.published else '')}; "
        rf"not measured here. {tex(PUBLISHED_CAVEAT)}}}",
        r"\end{table}",
    ]
    return _latex_file(_latex_banners(data), out)


def _arms_data(result: AblationResult, data: ReportData) -> ReportData:
    """The runs and methods an ablation's arms come from: its caption's warnings are theirs, not the report's."""
    methods = {arm.method: data.methods[arm.method] for arm in result.arms if arm.method in data.methods}
    runs = list({id(method.run): method.run for method in methods.values()}.values())
    return ReportData(runs, methods)


def _ablation_subset(result: AblationResult, data: ReportData) -> str:
    """'Measured on 3 of DreamBench's 30 subjects (a subset). ' when the arms' runs hold fewer than the protocol's
    subjects ('on a subset of' when the arms differ: the coverage note gives each arm's count); else ''."""
    from dataset.protocol import load_protocol

    total = len(load_protocol().subjects)
    if all(len(run.subjects) >= total for run in _arms_data(result, data).runs if run.subjects):
        return ""
    counts = sorted({len(arm.subjects) for arm in result.arms})
    if len(counts) == 1:
        return f"Measured on {counts[0]} of DreamBench's {total} subjects (a subset). "
    return f"Measured on a subset of DreamBench's {total} subjects. "


def latex_ablation(result: AblationResult, data: ReportData | None = None) -> str:
    """One booktabs table; its caption, which travels with the table, says when an arm is incomplete, comes
    from a smoke run (given `data`, the runs) or its numbers come from random weights (the file's comment
    lines, which do not travel, say it too)."""
    ablation = result.ablation
    metrics = list(ablation.metrics)
    heads = " & ".join(tex(metric_header(m)) for m in metrics)
    out = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{l{'c' * len(metrics)}}}",
        r"\toprule",
        f"{tex(ablation.title.split(':')[0])} & {heads} \\\\",
        r"\midrule",
    ]
    for arm in result.arms:
        ours = " & ".join(
            _tex_number(arm.ours[m]["mean"], arm.ours[m]["ci_low"], arm.ours[m]["ci_high"]) for m in metrics
        )
        mark = "" if arm.complete else r"$^\dagger$"
        out.append(f"{tex(arm.label)}{mark} (ours) & {ours} \\\\")
        if result.source:
            published = " & ".join(fmt(arm.published.get(m)) for m in metrics)
            out.append(rf"\quad published & {published} \\")
        if not arm.is_reference:
            deltas = [arm.delta.get(m, {}) for m in metrics]
            delta = " & ".join(
                _tex_number(d.get("diff"), d.get("ci_low"), d.get("ci_high"), signed=True) for d in deltas
            )
            out.append(rf"\quad $\Delta$ ours & {delta} \\")
            if result.source:
                pdelta = " & ".join(fmt_signed(arm.published_delta.get(m)) for m in metrics)
                out.append(rf"\quad $\Delta$ published & {pdelta} \\")
    no_source = result.no_source[:1].upper() + result.no_source[1:]
    source = f"Published: {tex(result.source)}." if result.source else f"{tex(no_source)}."
    if result.options:
        labels = ", ".join(rf"\texttt{{{tex(arm.method)}}}" for arm in result.arms if not arm.is_oracle)
        source += f" Every arm ran with the options {tex(result.options)}: {labels}."
    if result.code_warning:
        source += f" {tex(result.code_warning)}"
    if result.coverage_note:
        source += f" {tex(result.coverage_note)}"
    if result.incomplete_note:
        source += rf" $^\dagger${tex(result.incomplete_note)}"
    subset = "" if data is None else _ablation_subset(result, data)
    if data is not None:
        source += _smoke_caption(_arms_data(result, data))
    if not all(arm.meaningful for arm in result.arms):
        source += NOT_MEANINGFUL_CAPTION
    out += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{tex(ablation.title)}. {subset}Ours: mean over subjects [95\% CI]; $\Delta$: row minus "
        rf"{tex(result.arms[0].label)}, paired over shared cells [95\% CI]. {source}}}",
        r"\end{table}",
    ]
    return "\n".join(out) + "\n"


def write_latex(data: ReportData, board: Leaderboard, ablations: list[AblationResult], out_dir: Path) -> list[Path]:
    """leaderboard.tex and ablations.tex, each opening with the comment lines that name the packages it needs."""
    out_dir = Path(out_dir)
    paths = [out_dir / "leaderboard.tex", out_dir / "ablations.tex"]
    paths[0].write_text(latex_leaderboard(board, data), encoding="utf-8")
    parts = [latex_ablation(a, data) for a in ablations if a.available]
    missing_note = _comments([f"{a.ablation.title}: {ablation_unavailable(a)}" for a in ablations if not a.available])
    paths[1].write_text(_latex_file(_latex_banners(data) + missing_note, parts), encoding="utf-8")
    return paths


def write_exports(
    data: ReportData,
    board: Leaderboard,
    out_dir: Path,
    ablations: list[AblationResult] | None = None,
    *,
    markdown: str | None = None,
):
    """CSV, LaTeX and leaderboard.md beside the HTML; returns the written paths.

    `markdown` is `board_markdown(board, data)` when the caller has already rendered it
    (`write_report` does, for `bench report` to print): the file then holds that very text.
    """
    ablations = ablations if ablations is not None else build_ablations(data)
    markdown = markdown if markdown is not None else board_markdown(board, data)
    paths = write_csv(data, board, ablations, out_dir) + write_latex(data, board, ablations, out_dir)
    path = out_dir / "leaderboard.md"
    path.write_text(
        markdown + ABLATIONS_HEADING + "\n".join(ablation_markdown(a) for a in ablations),
        encoding="utf-8",
    )
    return [*paths, path]
