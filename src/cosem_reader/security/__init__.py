"""Security: deciphering and authenticating ciphered APDUs (AES-128-GCM)."""
