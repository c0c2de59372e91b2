"""`make bench`: the product and two baselines (plain Channels, bare asyncio), side by side."""
