"""Spack build-cache dashboard.

Pipeline: :mod:`dashboard.load` (sources -> Arrow -> DataFrames, with the local
Parquet store: :mod:`dashboard.sources`, :mod:`dashboard.parse`,
:mod:`dashboard.store`, :mod:`dashboard.frames`, :mod:`dashboard.model`) ->
:mod:`dashboard.query` (pure functions over those DataFrames) ->
:mod:`dashboard.views` (hvPlot heatmaps, Tabulator) -> :mod:`dashboard.app`
(Panel layout and wiring).  Importing this package imports no Panel code.
"""

__version__ = "0.1.0"
