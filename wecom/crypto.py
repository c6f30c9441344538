"""WeCom callback crypto (企业微信 "加解密方案说明"): signatures and AES-256-CBC.

msg_signature = sha1 of the sorted strings token, timestamp, nonce and the ciphertext.
The key is base64(EncodingAESKey + "="), 32 bytes; the IV is its first 16 bytes. The
plaintext is random(16) + msg_len(4, network order) + msg + receiveid (the CorpID),
padded PKCS#7 to a multiple of 32.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16


class CryptoError(ValueError):
    """A callback that is not signed or encrypted by WeCom for us."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def signature_matches(token: str, timestamp: str, nonce: str, encrypted: str,
                      given: str) -> bool:
    expected = signature(token, timestamp, nonce, encrypted)
    return hmac.compare_digest(expected.encode(), given.encode())


class Crypto:
    def __init__(self, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._receive_id = receive_id.encode()

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def decrypt(self, encrypted: str) -> str:
        try:
            decryptor = self._cipher().decryptor()
            padded = decryptor.update(base64.b64decode(encrypted, validate=True))
            padded += decryptor.finalize()
        except ValueError as exc:  # bad base64 or not whole blocks
            raise CryptoError(f"cannot decrypt: {exc}") from None
        pad = padded[-1] if padded else 0
        if not 1 <= pad <= BLOCK or padded[-pad:] != bytes((pad,)) * pad:
            raise CryptoError("bad padding")
        plain = padded[:-pad]
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length or not hmac.compare_digest(receive_id, self._receive_id):
            raise CryptoError("not addressed to this CorpID")
        return message.decode()
