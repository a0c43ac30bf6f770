//! WebSocket masking (RFC 6455 §5.3) done while copying, for the bulk of large messages.
//!
//! A client must mask every frame it sends: each payload byte `i` is XORed with byte
//! `i % 4` of the frame's masking key. fastwebsockets masks a frame in place just before
//! writing it: one more pass over a message that was just copied into its buffer. For
//! array blocks the client instead writes the values into the outgoing buffer already
//! masked ([`extend_masked`]), so the values are copied once, and masks the few bytes
//! around them separately.
//!
//! The message body is masked before the writer knows the message header (the messageId
//! is assigned when the frame is written, and its varint length varies). So the body is
//! masked with a key `body_key` counted from the body's first byte, and the frame's key is
//! that key rotated by the header's length ([`frame_key`]): payload byte `h + j` (body
//! byte `j` after an `h`-byte header) then gets `body_key[j % 4]`, as written. Both keys
//! are equally unpredictable: the body key is drawn per message from a CSPRNG, as
//! fastwebsockets draws its keys.

use std::mem::MaybeUninit;

/// A fresh masking key, from the same generator fastwebsockets uses for its keys
/// (`rand::random`: the thread-local CSPRNG, seeded from the operating system).
pub(crate) fn random_key() -> [u8; 4] {
    rand::random()
}

/// The key for bytes starting at position `phase` of a masked stream: byte `i` of the
/// result masks the byte at position `phase + i`.
fn rotated(key: [u8; 4], phase: usize) -> [u8; 4] {
    std::array::from_fn(|i| key[(phase + i) % 4])
}

/// Appends `src` to `dst`, masked with `key` as if `src` started at position `phase` of
/// the masked stream (the byte at position `p` is XORed with `key[p % 4]`).
pub(crate) fn extend_masked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], phase: usize) {
    let key = rotated(key, phase);
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    dst.reserve(src.len());
    let start = dst.len();
    let spare = &mut dst.spare_capacity_mut()[..src.len()];
    let (words, tail) = src.as_chunks::<8>();
    let (out_words, out_tail) = spare.as_chunks_mut::<8>();
    for (out, word) in out_words.iter_mut().zip(words) {
        // Native byte order on both sides: each byte meets its own key byte.
        let masked = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
        *out = masked.map(MaybeUninit::new);
    }
    // `words` covers a multiple of 8 bytes, so the tail starts at phase 0 of `key`.
    for (i, (out, byte)) in out_tail.iter_mut().zip(tail).enumerate() {
        *out = MaybeUninit::new(byte ^ key[i % 4]);
    }
    // SAFETY: `spare` is the first `src.len()` bytes of spare capacity (reserved above);
    // `out_words` and `out_tail` split it exactly as `words` and `tail` split `src`
    // (same length), and both loops wrote every one of their bytes.
    unsafe { dst.set_len(start + src.len()) };
}

/// Masks `buf` in place as positions `phase ..` of a masked stream.
pub(crate) fn mask_in_place(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let key = rotated(key, phase);
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// The frame's masking key for a payload made of an `header_len`-byte header followed by
/// a body masked with `body_key` from its own first byte.
pub(crate) fn frame_key(body_key: [u8; 4], header_len: usize) -> [u8; 4] {
    // Payload position t + 4k holds body byte t + 4k - header_len.
    rotated(body_key, 4 - header_len % 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload of a frame masked with `key`, unmasked.
    fn unmask(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = payload.to_vec();
        fastwebsockets::unmask(&mut out, key);
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn masked_copies_unmask_to_the_original_at_any_length_and_phase() {
        let key = [0x12, 0x9a, 0xff, 0x01];
        for len in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 1001] {
            for phase in 0..8 {
                let src = sample(len);
                // A prefix of `phase` bytes puts the copy at that phase of the stream.
                let mut stream = vec![0u8; phase];
                mask_in_place(&mut stream, key, 0);
                extend_masked(&mut stream, &src, key, phase);
                let plain = unmask(&stream, key);
                assert_eq!(&plain[phase..], &src[..], "len {len}, phase {phase}");
                assert!(plain[..phase].iter().all(|&b| b == 0));
            }
        }
    }

    #[test]
    fn a_body_masked_before_its_header_is_known_unmasks_with_the_frame_key() {
        let body_key = [0xde, 0xad, 0xbe, 0xef];
        for header_len in 0..12 {
            let header = sample(header_len);
            let body = sample(37);
            let mut masked_body = Vec::new();
            // Two pieces, the second one at an odd phase.
            extend_masked(&mut masked_body, &body[..13], body_key, 0);
            extend_masked(&mut masked_body, &body[13..], body_key, 13);
            let key = frame_key(body_key, header_len);
            let mut payload = header.clone();
            mask_in_place(&mut payload, key, 0);
            payload.extend_from_slice(&masked_body);
            let plain = unmask(&payload, key);
            assert_eq!(&plain[..header_len], &header[..], "header of {header_len}");
            assert_eq!(&plain[header_len..], &body[..], "header of {header_len}");
        }
    }

    #[test]
    fn keys_differ_from_message_to_message() {
        let keys: std::collections::HashSet<[u8; 4]> = (0..64).map(|_| random_key()).collect();
        assert!(keys.len() > 60, "{} distinct keys of 64", keys.len());
    }
}
