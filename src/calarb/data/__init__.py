"""calarb.data"""
