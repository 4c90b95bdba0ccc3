from driftgraph.cli import cli

cli()
