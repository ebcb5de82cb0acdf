"""The command-line interface: one module per command group; heavy imports inside commands."""
