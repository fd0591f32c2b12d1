"""Live: captions and voice from a camera or a stream while the signer signs (``signbridge live``)."""
