//! Tokenisation per segment: no token spans a segment boundary (docs/DESIGN.md rule 1).

use chorus_mask::Role;

use crate::layout::PromptLayout;

/// Anything that turns text into token ids. Kept minimal so that this crate does
/// not depend on a tokenizer or tensor library; closures implement it.
pub trait Tokenize {
    /// The tokenizer's error.
    type Error;
    /// Token ids of `text`, without special tokens the caller did not ask for.
    fn encode(&self, text: &str) -> Result<Vec<u32>, Self::Error>;
}

impl<F, E> Tokenize for F
where
    F: Fn(&str) -> Result<Vec<u32>, E>,
{
    type Error = E;

    fn encode(&self, text: &str) -> Result<Vec<u32>, E> {
        self(text)
    }
}

/// One segment's token ids with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedSegment {
    /// The segment's role.
    pub role: Role,
    /// Its token ids.
    pub ids: Vec<u32>,
}

/// A layout tokenised segment by segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenizedLayout {
    segments: Vec<TokenizedSegment>,
}

impl TokenizedLayout {
    /// The segments in order.
    pub fn segments(&self) -> &[TokenizedSegment] {
        &self.segments
    }

    /// All token ids, concatenated in segment order.
    pub fn token_ids(&self) -> Vec<u32> {
        self.segments
            .iter()
            .flat_map(|s| s.ids.iter().copied())
            .collect()
    }

    /// Total number of tokens.
    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.ids.len()).sum()
    }

    /// Whether there is no token at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(role, token count)` of every segment that has tokens, in order: the input
    /// of `chorus_mask::SegmentTable::from_lengths`. Segments that tokenised to
    /// nothing (an empty instruction) are left out because a segment table rejects
    /// empty segments and they hold no token a mask could refer to.
    pub fn role_lengths(&self) -> Vec<(Role, usize)> {
        self.segments
            .iter()
            .filter(|s| !s.ids.is_empty())
            .map(|s| (s.role, s.ids.len()))
            .collect()
    }
}

impl PromptLayout {
    /// Tokenises each segment on its own.
    pub fn tokenize<T: Tokenize + ?Sized>(
        &self,
        tokenizer: &T,
    ) -> Result<TokenizedLayout, T::Error> {
        let segments = self
            .segments()
            .iter()
            .map(|s| {
                Ok(TokenizedSegment {
                    role: s.role,
                    ids: tokenizer.encode(&s.text)?,
                })
            })
            .collect::<Result<Vec<_>, T::Error>>()?;
        Ok(TokenizedLayout { segments })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{FewShotExample, PromptContext};
    use crate::layout::{FlexOptions, FuseFirst};
    use chorus_mask::SegmentTable;

    /// A byte-level tokenizer: one id per UTF-8 byte.
    fn bytes(text: &str) -> Result<Vec<u32>, std::convert::Infallible> {
        Ok(text.bytes().map(u32::from).collect())
    }

    fn layout() -> PromptLayout {
        let ctx = PromptContext::new("I", vec![FewShotExample::new("q", "a")]).unwrap();
        ctx.flex(
            &["x", "yy"],
            FlexOptions {
                share_prefix: true,
                fuse_first: FuseFirst::SharedSuffix,
            },
        )
        .unwrap()
    }

    #[test]
    fn segments_are_tokenised_separately_and_keep_roles() {
        let layout = layout();
        let tokenized = layout.tokenize(&bytes).unwrap();
        assert_eq!(
            tokenized.token_ids(),
            layout.render().bytes().map(u32::from).collect::<Vec<_>>()
        );
        let lengths: Vec<(Role, usize)> = tokenized
            .segments()
            .iter()
            .map(|s| (s.role, s.ids.len()))
            .collect();
        assert_eq!(
            lengths,
            vec![
                (Role::Shared, "I\n\nQ: q\nA: a".len()),
                (Role::Question { paraphrase: 0 }, "\n\nQ: x".len()),
                (Role::Question { paraphrase: 1 }, "\n\nQ: yy".len()),
                (Role::Shared, 3),
            ]
        );
        assert_eq!(tokenized.len(), layout.render().len());
        assert!(!tokenized.is_empty());
    }

    #[test]
    fn role_lengths_build_a_segment_table() {
        let ctx = PromptContext::new("", vec![FewShotExample::new("q", "a")]).unwrap();
        let layout = ctx.structured(&["x", "y"], 3).unwrap();
        let tokenized = layout.tokenize(&bytes).unwrap();
        let lengths = tokenized.role_lengths();
        assert_eq!(
            lengths.len(),
            layout.segments().len() - 1,
            "empty instruction dropped"
        );
        assert!(lengths.iter().all(|(role, _)| *role != Role::Instruction));
        let table = SegmentTable::from_lengths(&lengths).unwrap();
        assert_eq!(table.len(), tokenized.len());
        let roles: Vec<Role> = table.segments().iter().map(|s| s.role).collect();
        assert_eq!(
            roles,
            vec![
                Role::FewShotQuestion {
                    example: 0,
                    variant: 0
                },
                Role::FewShotAnswer { example: 0 },
                Role::Question { paraphrase: 0 },
                Role::Question { paraphrase: 1 },
                Role::Shared,
            ]
        );
        let answer = &table.segments()[1];
        assert_eq!(answer.range, "\n\nQ: q".len().."\n\nQ: q\nA: a".len());
    }

    #[test]
    fn tokenizer_errors_are_passed_through() {
        let failing = |text: &str| {
            if text.contains('y') {
                Err(format!("cannot encode {text:?}"))
            } else {
                Ok(vec![1])
            }
        };
        assert_eq!(
            layout().tokenize(&failing).unwrap_err(),
            "cannot encode \"\\n\\nQ: yy\""
        );
    }
}
