"""`python -m wave_mcp` is the same as `wave-mcp`."""

from wave_mcp.cli import main

main()
