"""calarb.backtest"""
