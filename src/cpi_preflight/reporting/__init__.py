"""Reporting: what a run shows and writes, from one masked document per profile.

The last step of the flow. `document` builds, once per profile, the `Document` every report
reads: the evidence record and the details other reports need, masked and cleaned before any
renderer sees them. `outcomes` holds the one wording for outcomes and counts. Each format has
one module with a pure `render(document)`: `junit` (junit.xml), `evidence` (evidence.json),
`html` (evidence.html), `terminal` (the cpi-preflight section of pytest's summary) and
`markdown` (the CI job summary, from documents read back from evidence.json files). `reports`
holds the one table of file name -> renderer that the plugin writes each profile's files with,
and writes the one file over all profiles of a run: `metrics` (`render(documents)`, OpenMetrics
for `--metrics-file`).

A new report is one module with a `render(document)` and one row in `reports.REPORTS` (its
file name in `reports.FILES`, its `render` in `reports._renderers`).
"""
