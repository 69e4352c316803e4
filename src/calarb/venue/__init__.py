"""calarb.venue"""
