"""Where build-cache data comes from: each source finds its records and parses them
into the Arrow tables of :mod:`dashboard.parse` (today: :mod:`dashboard.sources.pages`)."""
