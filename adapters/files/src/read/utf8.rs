//! Block-wise UTF-8 validation for the CSV tokenizer.
//!
//! [`validate`] answers the tokenizer's question for a whole block: how long is the valid
//! prefix, and does it end at an invalid sequence or merely at a character the block's end cuts
//! short. The answer is the standard library's (`std::str::from_utf8`); `simdutf8` (the field's
//! SIMD validator, with run-time CPU detection) first tells whether the block is valid as a
//! whole — the usual case, several times faster than `from_utf8` — and only a block that fails
//! it goes to the standard library for the exact position.

/// The length of the valid UTF-8 prefix of `bytes`, and whether it ends at an invalid
/// sequence (rather than at the end, or at a sequence the end cuts short). Costs about the
/// length of the valid prefix when there is an invalid sequence.
pub(crate) fn validate(bytes: &[u8]) -> (usize, bool) {
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return (bytes.len(), false);
    }
    validate_std(bytes)
}

/// [`validate`] by the standard library alone.
pub(crate) fn validate_std(bytes: &[u8]) -> (usize, bool) {
    match std::str::from_utf8(bytes) {
        Ok(_) => (bytes.len(), false),
        Err(e) => (e.valid_up_to(), e.error_len().is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_std(bytes: &[u8]) {
        assert_eq!(validate(bytes), validate_std(bytes), "{bytes:x?}");
    }

    #[test]
    fn every_one_to_four_byte_sequence_after_ascii_and_at_every_offset() {
        // All 1- and 2-byte inputs, and 3- and 4-byte ones over a set of interesting bytes,
        // placed at every position of a 64-byte chunk and across chunk boundaries.
        let interesting: Vec<u8> = vec![
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF,
        ];
        let mut seqs: Vec<Vec<u8>> = (0..=255u8).map(|a| vec![a]).collect();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                seqs.push(vec![a, b]);
            }
        }
        for &a in &interesting {
            for &b in &interesting {
                for &c in &interesting {
                    seqs.push(vec![a, b, c]);
                    for &d in &interesting[..12] {
                        seqs.push(vec![a, b, c, d]);
                    }
                }
            }
        }
        for (n, seq) in seqs.iter().enumerate() {
            let offset = n % 70;
            let mut bytes = vec![b'a'; offset];
            bytes.extend_from_slice(seq);
            same_as_std(&bytes);
            bytes.extend_from_slice(&[b'z'; 5]);
            same_as_std(&bytes);
        }
    }

    #[test]
    fn random_text_with_a_few_bad_bytes() {
        let mut next = crate::read::xorshift(0x2545_F491_4F6C_DD1D);
        let pieces: [&[u8]; 8] = [
            b"abc",
            b",",
            "é".as_bytes(),
            "€".as_bytes(),
            "𝄞".as_bytes(),
            "ü".as_bytes(),
            b"\n",
            b"xyz01234",
        ];
        for case in 0..5000u32 {
            let mut bytes = Vec::new();
            let len = next() % 300;
            while (bytes.len() as u64) < len {
                bytes.extend_from_slice(pieces[(next() % 8) as usize]);
            }
            if case.is_multiple_of(2) && !bytes.is_empty() {
                let at = (next() as usize) % bytes.len();
                bytes[at] = (next() % 256) as u8;
            }
            if case.is_multiple_of(5) {
                let cut = (next() as usize) % (bytes.len() + 1);
                bytes.truncate(cut);
            }
            same_as_std(&bytes);
        }
    }
}
