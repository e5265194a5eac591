"""Link layer: finding frames in the byte stream (M-Bus long frames, HDLC frames)."""
