use std::convert::TryFrom;

use crate::common::TagClass;
use crate::structure::{PL, StructureTag};

use nom;
use nom::error::{Error, ErrorKind, ParseError};
use nom::{IResult, Needed};

/// Extract an unsigned integer value from BER data.
pub fn parse_uint(i: &[u8]) -> nom::IResult<&[u8], u64> {
    Ok((i, i.iter().fold(0, |res, &byte| (res << 8) | byte as u64)))
}

/// Parse raw BER data into a serializable structure.
///
/// dirbridge patch: the same grammar and results as the nom combinators it
/// replaces (kept in the tests as `reference::parse_tag`, which every test
/// input is also checked against), read byte by byte. Every value of every LDAP message passes
/// through here, and nom's bit-level parsers cost more than the copy of the
/// value itself.
pub fn parse_tag(i: &[u8]) -> nom::IResult<&[u8], StructureTag> {
    let (&first, rest) = i.split_first().ok_or(nom::Err::Incomplete(Needed::new(1)))?;
    // Class (2 bits), primitive/constructed (1 bit), tag number (5 bits):
    // the values from_u8 accepts are all a 2- and a 1-bit field can hold.
    let class = TagClass::from_u8(first >> 6).unwrap_or(TagClass::Private);
    let constructed = first & 0x20 != 0;
    let id = u64::from(first & 0x1f);
    let (&len_byte, rest) = rest.split_first().ok_or(nom::Err::Incomplete(Needed::new(1)))?;
    let (len, rest) = if len_byte < 128 {
        (len_byte as usize, rest)
    } else {
        let n = usize::from(len_byte - 128);
        if rest.len() < n {
            return Err(nom::Err::Incomplete(Needed::new(n - rest.len())));
        }
        let (digits, rest) = rest.split_at(n);
        let (_, len) = parse_uint(digits)?;
        let len = usize::try_from(len)
            .map_err(|_| nom::Err::Failure(Error::from_error_kind(rest, ErrorKind::TooLarge)))?;
        (len, rest)
    };
    if rest.len() < len {
        return Err(nom::Err::Incomplete(Needed::new(len - rest.len())));
    }
    let (mut content, rest) = rest.split_at(len);
    let payload = if constructed {
        let mut tv: Vec<StructureTag> = Vec::new();
        while !content.is_empty() {
            let (j, sub) = parse_tag(content)?;
            content = j;
            tv.push(sub);
        }
        PL::C(tv)
    } else {
        PL::P(content.to_vec())
    };
    Ok((rest, StructureTag { class, id, payload }))
}

pub struct Parser;

impl Parser {
    pub fn new() -> Self {
        Self
    }

    pub fn parse<'a>(
        &mut self,
        input: &'a [u8],
    ) -> IResult<&'a [u8], StructureTag, nom::error::Error<&'a [u8]>> {
        if input.is_empty() {
            return Err(nom::Err::Incomplete(Needed::Unknown));
        };
        parse_tag(input)
    }
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod reference {
    //! The published lber 0.5.1 parser, to check the hand-written one against.
    use super::*;
    use crate::common::TagStructure;
    use nom::bits::streaming as bits;
    use nom::bytes::streaming::take;
    use nom::combinator::map_opt;
    use nom::number::streaming as number;
    use nom::sequence::tuple;
    use nom::InputLength;

    fn class_bits(i: (&[u8], usize)) -> nom::IResult<(&[u8], usize), TagClass> {
        map_opt(bits::take(2usize), TagClass::from_u8)(i)
    }

    fn pc_bit(i: (&[u8], usize)) -> nom::IResult<(&[u8], usize), TagStructure> {
        map_opt(bits::take(1usize), TagStructure::from_u8)(i)
    }

    fn tagnr_bits(i: (&[u8], usize)) -> nom::IResult<(&[u8], usize), u64> {
        bits::take(5usize)(i)
    }

    fn parse_type_header(i: &[u8]) -> nom::IResult<&[u8], (TagClass, TagStructure, u64)> {
        nom::bits(tuple((class_bits, pc_bit, tagnr_bits)))(i)
    }

    fn parse_length(i: &[u8]) -> nom::IResult<&[u8], usize> {
        let (i, len) = number::be_u8(i)?;
        if len < 128 {
            Ok((i, len as usize))
        } else {
            let len = len - 128;
            let (i, b) = take(len)(i)?;
            let (_, len) = parse_uint(b)?;
            Ok((
                i,
                usize::try_from(len)
                    .map_err(|_| nom::Err::Failure(Error::from_error_kind(i, ErrorKind::TooLarge)))?,
            ))
        }
    }

    pub fn parse_tag(i: &[u8]) -> nom::IResult<&[u8], StructureTag> {
        let (mut i, ((class, structure, id), len)) = tuple((parse_type_header, parse_length))(i)?;
        let pl: PL = match structure {
            TagStructure::Primitive => {
                let (j, content) = take(len)(i)?;
                i = j;
                PL::P(content.to_vec())
            }
            TagStructure::Constructed => {
                let (j, mut content) = take(len)(i)?;
                i = j;
                let mut tv: Vec<StructureTag> = Vec::new();
                while content.input_len() > 0 {
                    let (j, sub) = parse_tag(content)?;
                    content = j;
                    tv.push(sub);
                }
                PL::C(tv)
            }
        };
        Ok((i, StructureTag { class, id, payload: pl }))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::common::TagClass;
    use crate::structure::{PL, StructureTag};

    #[test]
    fn test_primitive() {
        let bytes: Vec<u8> = vec![2, 2, 255, 127];
        let result_tag = StructureTag {
            class: TagClass::Universal,
            id: 2u64,
            payload: PL::P(vec![255, 127]),
        };
        let rest_tag: Vec<u8> = vec![];

        let tag = parse_tag(&bytes[..]);

        assert_eq!(tag, Ok((&rest_tag[..], result_tag)));
    }

    #[test]
    fn test_constructed() {
        let bytes: Vec<u8> = vec![
            48, 14, 12, 12, 72, 101, 108, 108, 111, 32, 87, 111, 114, 108, 100, 33,
        ];
        let result_tag = StructureTag {
            class: TagClass::Universal,
            id: 16u64,
            payload: PL::C(vec![StructureTag {
                class: TagClass::Universal,
                id: 12u64,
                payload: PL::P(vec![72, 101, 108, 108, 111, 32, 87, 111, 114, 108, 100, 33]),
            }]),
        };
        let rest_tag: Vec<u8> = vec![];

        let tag = parse_tag(&bytes[..]);

        assert_eq!(tag, Ok((&rest_tag[..], result_tag)));
    }

    #[test]
    fn test_long_length() {
        let bytes: Vec<u8> = vec![
            0x30, 0x82, 0x01, 0x01, 0x80, 0x0C, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E,
            0x67, 0x54, 0x61, 0x67, 0x81, 0x81, 0xF0, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F,
            0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67,
            0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61,
            0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A,
            0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73,
            0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41,
            0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F,
            0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67,
            0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61,
            0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A,
            0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73,
            0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41,
            0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F,
            0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67,
            0x54, 0x61, 0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61,
            0x67, 0x4A, 0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A,
            0x75, 0x73, 0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67, 0x4A, 0x75, 0x73,
            0x74, 0x41, 0x4C, 0x6F, 0x6E, 0x67, 0x54, 0x61, 0x67,
        ];

        let result_tag = StructureTag {
            class: TagClass::Universal,
            id: 16u64,
            payload: PL::C(vec![
                StructureTag {
                    class: TagClass::Context,
                    id: 0,
                    payload: PL::P(vec![74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103]),
                },
                StructureTag {
                    class: TagClass::Context,
                    id: 1,
                    payload: PL::P(vec![
                        74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116,
                        65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110,
                        103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103,
                        74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116,
                        65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110,
                        103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103,
                        74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116,
                        65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110,
                        103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103,
                        74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116,
                        65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110,
                        103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103,
                        74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116,
                        65, 76, 111, 110, 103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110,
                        103, 84, 97, 103, 74, 117, 115, 116, 65, 76, 111, 110, 103, 84, 97, 103,
                    ]),
                },
            ]),
        };

        let rest_tag = Vec::new();

        let tag = parse_tag(&bytes[..]);
        assert_eq!(tag, Ok((&rest_tag[..], result_tag)));
    }

    /// Same value, rest and kind of error as the published parser, for
    /// every prefix of a set of messages (a truncated message must read as
    /// incomplete, never as something else).
    #[test]
    fn agrees_with_the_published_parser_on_every_prefix() {
        let mut long = vec![0x04, 0x82, 0x01, 0x2c];
        long.extend(std::iter::repeat(b'x').take(300));
        let inputs: Vec<Vec<u8>> = vec![
            vec![2, 2, 255, 127],
            vec![48, 14, 12, 12, 72, 101, 108, 108, 111, 32, 87, 111, 114, 108, 100, 33],
            // A search result entry: application 4, constructed.
            vec![0x64, 0x0b, 0x04, 0x03, b'c', b'n', b'=', 0x30, 0x04, 0x30, 0x02, 0x04, 0x00],
            // Context-specific and private classes, tag 31, indefinite length.
            vec![0xa0, 0x03, 0x81, 0x01, 0x07],
            vec![0xdf, 0x00],
            vec![0x1f, 0x80, 0x05],
            long.clone(),
            // Length of length over 8 bytes, and a child overrunning its parent.
            vec![0x04, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'z'],
            vec![0x30, 0x02, 0x04, 0x05, 1, 2, 3, 4, 5],
            // Two messages back to back: the rest is the second.
            [vec![2, 1, 5], long].concat(),
        ];
        for input in &inputs {
            for end in 0..=input.len() {
                let part = &input[..end];
                let ours = parse_tag(part);
                let theirs = reference::parse_tag(part);
                match (&ours, &theirs) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{part:?}"),
                    (Err(a), Err(b)) => assert_eq!(
                        (a.is_incomplete(), matches!(a, nom::Err::Failure(_))),
                        (b.is_incomplete(), matches!(b, nom::Err::Failure(_))),
                        "{part:?}: {a:?} / {b:?}"
                    ),
                    _ => panic!("{part:?}: {ours:?} / {theirs:?}"),
                }
            }
        }
    }
}
