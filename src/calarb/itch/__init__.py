"""NASDAQ TotalView-ITCH 5.0 messages, codecs, files, bulk decoding and MoldUDP64."""
