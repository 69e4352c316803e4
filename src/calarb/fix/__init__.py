"""calarb.fix"""
