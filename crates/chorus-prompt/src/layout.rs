//! Prompts as ordered segments with roles.
//!
//! # Where separators go
//!
//! Every separator belongs to the END of the segment it closes: the instruction
//! segment is `"{instruction}\n\n"`, a few-shot question `"Q: {q}\n"`, a few-shot
//! answer `"A: {a}\n\n"`. So every segment after the first begins with its own
//! content (`Q:`, `A:`), exactly as that text begins inside a standalone prompt,
//! and the concatenation of the segments is byte-for-byte the standalone prompt.
//! The single exception is the fused-first suffix `"\nA:"`, which starts with the
//! newline that closes the question line because that newline is part of the text
//! every paraphrase prompt ends with.

use chorus_mask::Role;

use crate::context::PromptContext;
use crate::error::PromptError;

/// The text every standard prompt ends with; `--fuse-first shared-suffix` moves
/// it out of the paraphrase segments into one trailing shared segment.
pub const ANSWER_SUFFIX: &str = "\nA:";

/// One span of prompt text with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptSegment {
    /// What the span is (decides attention visibility in chorus-mask).
    pub role: Role,
    /// The span's text.
    pub text: String,
}

/// A prompt as ordered segments; rendering concatenates their texts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromptLayout {
    segments: Vec<PromptSegment>,
}

/// How the first answer token is fused in the flex layouts (DESIGN.md rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuseFirst {
    /// Chorus' default: the common suffix `"\nA:"` is one trailing `Shared`
    /// segment that sees every paraphrase; the first answer token is read there.
    #[default]
    SharedSuffix,
    /// The Python pipeline's layout: each paraphrase segment keeps its suffix.
    None,
}

/// Options of the flex layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlexOptions {
    /// Keep one `Shared` copy of instruction + few-shot block (`--share-prefix`).
    pub share_prefix: bool,
    /// How the first answer token is fused.
    pub fuse_first: FuseFirst,
}

impl PromptLayout {
    /// An empty layout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a segment.
    pub fn push(&mut self, role: Role, text: impl Into<String>) {
        self.segments.push(PromptSegment {
            role,
            text: text.into(),
        });
    }

    /// The segments in order.
    pub fn segments(&self) -> &[PromptSegment] {
        &self.segments
    }

    /// The whole prompt text.
    pub fn render(&self) -> String {
        self.segments.iter().map(|s| s.text.as_str()).collect()
    }

    /// The concatenated text of the segments with a `Question { paraphrase }` role
    /// equal to `paraphrase`.
    pub fn paraphrase_text(&self, paraphrase: usize) -> String {
        self.segments
            .iter()
            .filter(|s| s.role == Role::Question { paraphrase })
            .map(|s| s.text.as_str())
            .collect()
    }
}

impl PromptContext {
    /// The shared prefix of every standard prompt: `"{instruction}\n\n"` followed by
    /// each few-shot example as `"Q: {q}\n"` + `"A: {a}\n\n"` (first question only).
    fn push_prefix(&self, layout: &mut PromptLayout, questions_per_example: usize) {
        layout.push(Role::Instruction, format!("{}\n\n", self.instruction));
        for (example, shot) in self.examples.iter().enumerate() {
            for (variant, question) in shot
                .questions
                .iter()
                .take(questions_per_example.max(1))
                .enumerate()
            {
                layout.push(
                    Role::FewShotQuestion { example, variant },
                    format!("Q: {question}\n"),
                );
            }
            layout.push(
                Role::FewShotAnswer { example },
                format!("A: {}\n\n", shot.answer),
            );
        }
    }

    /// The text of the shared prefix: instruction and few-shot block, each followed
    /// by `"\n\n"`.
    pub fn prefix_text(&self) -> String {
        let mut layout = PromptLayout::new();
        self.push_prefix(&mut layout, 1);
        layout.render()
    }

    /// The standard prompt for one question, as segments:
    /// `{instruction}\n\n{few_shot_block}\n\nQ: {question}\nA:`, the last segment
    /// having role `Question { paraphrase }`. With no few-shot example the prompt is
    /// `{instruction}\n\nQ: {question}\nA:` (no empty block between blank lines).
    pub fn standard(&self, question: &str, paraphrase: usize) -> PromptLayout {
        let mut layout = PromptLayout::new();
        self.push_prefix(&mut layout, 1);
        layout.push(
            Role::Question { paraphrase },
            format!("Q: {question}{ANSWER_SUFFIX}"),
        );
        layout
    }

    /// The standard prompt's text (byte-identical to the Python pipeline's).
    pub fn standard_prompt(&self, question: &str) -> String {
        self.standard(question, 0).render()
    }

    /// The flex layouts: all paraphrase prompts packed into one sequence.
    ///
    /// - plain (`share_prefix = false`, `FuseFirst::None`): one
    ///   `Question { paraphrase: i }` segment per full standalone prompt;
    /// - `share_prefix`: one `Shared` prefix segment (instruction + few-shot
    ///   block + `"\n\n"`), then one `"Q: {p}\nA:"` segment per paraphrase;
    /// - `FuseFirst::SharedSuffix`: as above but each paraphrase segment stops
    ///   before [`ANSWER_SUFFIX`], which follows once as a trailing `Shared`
    ///   segment.
    ///
    /// Prefix + paraphrase segment (+ suffix) is always exactly that paraphrase's
    /// standalone prompt.
    pub fn flex(
        &self,
        paraphrases: &[impl AsRef<str>],
        options: FlexOptions,
    ) -> Result<PromptLayout, PromptError> {
        if paraphrases.is_empty() {
            return Err(PromptError::NoParaphrases);
        }
        let prefix = self.prefix_text();
        let fused = options.fuse_first == FuseFirst::SharedSuffix;
        let mut layout = PromptLayout::new();
        if options.share_prefix {
            layout.push(Role::Shared, prefix.clone());
        }
        for (paraphrase, text) in paraphrases.iter().enumerate() {
            let own_prefix = if options.share_prefix {
                ""
            } else {
                prefix.as_str()
            };
            let suffix = if fused { "" } else { ANSWER_SUFFIX };
            layout.push(
                Role::Question { paraphrase },
                format!("{own_prefix}Q: {}{suffix}", text.as_ref()),
            );
        }
        if fused {
            layout.push(Role::Shared, ANSWER_SUFFIX);
        }
        Ok(layout)
    }

    /// MyriadLAMA's structured layout: the instruction, each few-shot example with
    /// up to `questions_per_example` question phrasings (`"Q: ...\n"` segments,
    /// then one `"A: ...\n\n"` segment), each question paraphrase as a `"Q: {p}\n"`
    /// segment, and a final `Shared` `"A:"` segment where the answer is read.
    ///
    /// The rendering equals the pipeline's structured prompt:
    /// `{instruction}\n\nQ: {fs1 q1}\nQ: {fs1 q2}\nA: {fs1 a}\n\n...\n\nQ: {p1}\nQ: {p2}\nA:`.
    pub fn structured(
        &self,
        paraphrases: &[impl AsRef<str>],
        questions_per_example: usize,
    ) -> Result<PromptLayout, PromptError> {
        if paraphrases.is_empty() {
            return Err(PromptError::NoParaphrases);
        }
        let mut layout = PromptLayout::new();
        self.push_prefix(&mut layout, questions_per_example);
        for (paraphrase, text) in paraphrases.iter().enumerate() {
            layout.push(
                Role::Question { paraphrase },
                format!("Q: {}\n", text.as_ref()),
            );
        }
        layout.push(Role::Shared, "A:");
        Ok(layout)
    }
}

/// The structured layout's default number of question phrasings per few-shot
/// example.
pub const DEFAULT_QUESTIONS_PER_EXAMPLE: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::FewShotExample;
    use proptest::prelude::*;

    fn context() -> PromptContext {
        PromptContext::new(
            "Do it.",
            vec![
                FewShotExample {
                    questions: vec!["q1".into(), "q1b".into(), "q1c".into(), "q1d".into()],
                    answer: "a1".into(),
                },
                FewShotExample::new("q2", "a2"),
            ],
        )
        .unwrap()
    }

    #[test]
    fn standard_prompt_follows_the_pipeline_formula() {
        let ctx = context();
        let expected = format!(
            "{}\n\n{}\n\nQ: {}\nA:",
            ctx.instruction,
            ctx.few_shot_block(),
            "who?"
        );
        assert_eq!(ctx.standard_prompt("who?"), expected);
        let roles: Vec<Role> = ctx
            .standard("who?", 3)
            .segments()
            .iter()
            .map(|s| s.role)
            .collect();
        assert_eq!(
            roles,
            vec![
                Role::Instruction,
                Role::FewShotQuestion {
                    example: 0,
                    variant: 0
                },
                Role::FewShotAnswer { example: 0 },
                Role::FewShotQuestion {
                    example: 1,
                    variant: 0
                },
                Role::FewShotAnswer { example: 1 },
                Role::Question { paraphrase: 3 },
            ]
        );
    }

    #[test]
    fn zero_shot_prompt_has_one_blank_line() {
        let ctx = PromptContext::new("I", vec![]).unwrap();
        assert_eq!(ctx.standard_prompt("q"), "I\n\nQ: q\nA:");
    }

    #[test]
    fn plain_flex_is_one_segment_per_full_prompt() {
        let ctx = context();
        let options = FlexOptions {
            share_prefix: false,
            fuse_first: FuseFirst::None,
        };
        let layout = ctx.flex(&["x", "y"], options).unwrap();
        assert_eq!(layout.segments().len(), 2);
        assert_eq!(layout.paraphrase_text(1), ctx.standard_prompt("y"));
        assert_eq!(
            layout.render(),
            ctx.standard_prompt("x") + &ctx.standard_prompt("y")
        );
    }

    #[test]
    fn shared_prefix_and_suffix_layout() {
        let ctx = context();
        let layout = ctx
            .flex(
                &["x", "y"],
                FlexOptions {
                    share_prefix: true,
                    fuse_first: FuseFirst::SharedSuffix,
                },
            )
            .unwrap();
        let texts: Vec<&str> = layout.segments().iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![ctx.prefix_text().as_str(), "Q: x", "Q: y", "\nA:"]
        );
        assert_eq!(layout.segments()[0].role, Role::Shared);
        assert_eq!(layout.segments()[3].role, Role::Shared);
    }

    #[test]
    fn structured_layout_renders_the_pipeline_format() {
        let ctx = context();
        let layout = ctx.structured(&["p1", "p2"], 3).unwrap();
        assert_eq!(
            layout.render(),
            "Do it.\n\nQ: q1\nQ: q1b\nQ: q1c\nA: a1\n\nQ: q2\nA: a2\n\nQ: p1\nQ: p2\nA:"
        );
        let roles: Vec<Role> = layout.segments().iter().map(|s| s.role).collect();
        assert_eq!(
            roles[3],
            Role::FewShotQuestion {
                example: 0,
                variant: 2
            }
        );
        assert_eq!(roles[4], Role::FewShotAnswer { example: 0 });
        assert_eq!(
            &roles[7..],
            &[
                Role::Question { paraphrase: 0 },
                Role::Question { paraphrase: 1 },
                Role::Shared
            ]
        );
    }

    #[test]
    fn layouts_need_paraphrases() {
        let none: [&str; 0] = [];
        assert!(matches!(
            context().flex(&none, FlexOptions::default()),
            Err(PromptError::NoParaphrases)
        ));
        assert!(matches!(
            context().structured(&none, 3),
            Err(PromptError::NoParaphrases)
        ));
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z?\\[\\] \n]{0,12}"
    }

    proptest! {
        #[test]
        fn every_flex_layout_rebuilds_each_standalone_prompt(
            instruction in text(), shots in proptest::collection::vec((text(), text()), 0..4),
            paraphrases in proptest::collection::vec(text(), 1..5),
            share_prefix in any::<bool>(), fused in any::<bool>(),
        ) {
            let examples = shots.into_iter().map(|(q, a)| FewShotExample::new(q, a)).collect();
            let ctx = PromptContext::new(instruction, examples).unwrap();
            let fuse_first = if fused { FuseFirst::SharedSuffix } else { FuseFirst::None };
            let layout = ctx.flex(&paraphrases, FlexOptions { share_prefix, fuse_first }).unwrap();
            let shared: Vec<&PromptSegment> = layout.segments().iter().filter(|s| s.role == Role::Shared).collect();
            let prefix = if share_prefix { shared[0].text.clone() } else { String::new() };
            let suffix = if fused { shared.last().unwrap().text.clone() } else { String::new() };
            for (i, p) in paraphrases.iter().enumerate() {
                let rebuilt = format!("{prefix}{}{suffix}", layout.paraphrase_text(i));
                prop_assert_eq!(rebuilt, ctx.standard_prompt(p));
            }
            let question_segments = layout.segments().iter().filter(|s| matches!(s.role, Role::Question { .. })).count();
            prop_assert_eq!(question_segments, paraphrases.len());
        }

        #[test]
        fn standard_segments_render_the_formula(
            instruction in text(), shots in proptest::collection::vec((text(), text()), 1..4), question in text(),
        ) {
            let examples = shots.into_iter().map(|(q, a)| FewShotExample::new(q, a)).collect();
            let ctx = PromptContext::new(instruction, examples).unwrap();
            let expected = format!("{}\n\n{}\n\nQ: {question}\nA:", ctx.instruction, ctx.few_shot_block());
            prop_assert_eq!(ctx.standard(&question, 0).render(), expected);
        }
    }
}
