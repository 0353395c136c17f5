"""Settings and the value types they hold.

One frozen, validated ``Settings`` object is built once from defaults < TOML file <
environment < flags (``settings``); the TOML tables (``tables``), the metrics address
(``address``), contract point values (``point_values``) and the trading-day rollover
(``trading_day``) are the values it carries; ``sides`` holds the buy/sell vocabulary.
Everything above reads settings; nothing here reads files, the database or the clock.
"""
