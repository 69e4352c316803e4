"""calarb.trading"""
