"""Reports: what users read and share (tables, HTML, plots), and the warnings they must see.

- `banner`: the NOT MEANINGFUL warning of random-weight profiles and which of them a report needs
  (imported by the runner; keep it light).
- `loading`: run directories -> `ReportData` (scores, records, artifacts, failures, completeness).
- `tables`: tidy pandas tables (methods x metrics, per subject, per category, oracle, training cost, failures).
- `published`: the DreamBooth paper's numbers as data, never mixed with measured rows.
- `comparisons`: paired comparisons against a baseline; `compare_runs` for `bench compare`.
- `leaderboard`, `ablations`: the structured leaderboard and the paper's ablation tables.
- `exports`: Markdown (`markdown_leaderboard`), CSV and LaTeX; `plots`, `gallery`: figures and image grids.
- `html`: `write_report`, the self-contained HTML report (jinja2 templates in `templates/`).
"""
