"""About 100 MB of small objects, built at import: what gc.freeze keeps shared with workers."""

DATA = [(i, "item %d" % i, [i]) for i in range(600_000)]
