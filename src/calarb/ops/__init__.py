"""calarb.ops"""
