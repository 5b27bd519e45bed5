"""Spack build-cache dashboard.

The package's layout is the pipeline:

* :mod:`dashboard.core`: Spack's semantics (version order, spec syntax,
  microarchitectures) and the one Arrow schema every source yields;
* :mod:`dashboard.sources`: one :class:`~dashboard.sources.base.Source` per kind of
  build cache (pages trees; Spack mirrors v2/v3 on local/file/http/s3; OCI
  registries), with their parsers, bounded reads and limits;
* :mod:`dashboard.store`, :mod:`dashboard.frames`, :mod:`dashboard.merge`,
  :mod:`dashboard.model`, :mod:`dashboard.load`: the local store, Arrow ->
  DataFrames, and :func:`dashboard.load.load`, which knows no kind of source;
* :mod:`dashboard.domain`: questions over the DataFrames (selections, spec
  queries, differences, install commands, signatures), pure functions;
* :mod:`dashboard.ui`: the Panel state object, components and hvPlot/Tabulator views;
* :mod:`dashboard.app` (``panel serve dashboard/app.py``), :mod:`dashboard.export`
  (the offline HTML file) and :mod:`dashboard.cli` (``spack-cache-dashboard``).

Importing this package imports no Panel code.
"""

__version__ = "0.1.0"
