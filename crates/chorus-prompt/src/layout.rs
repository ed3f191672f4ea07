//! Prompts as ordered segments with roles.
//!
//! # Where separators go
//!
//! Every separator belongs to the START of the segment it opens: the instruction
//! segment is `"{instruction}"`, a few-shot question `"\n\nQ: {q}"` (`"\nQ: {q}"`
//! for a further phrasing of the same example), a few-shot answer `"\nA: {a}"`, a
//! question `"\n\nQ: {question}\nA:"`. The concatenation of the segments is
//! byte-for-byte the standalone prompt.
//!
//! Why leading and not trailing: GPT-2-style pre-tokenisers (SmolLM2, Llama 3)
//! encode a whitespace run at the END of a text differently from the same run
//! inside it (`"x\n\n"` gives one `"\n\n"` token, `"x\n\nQ"` gives `"\n"`,
//! `"\n"`), while a run at the START splits exactly as in context. With leading
//! separators, tokenising each segment alone and concatenating gives the token ids
//! of the whole prompt; with trailing ones it does not. Checked for all 200 golden
//! prompts with SmolLM2's tokenizer (`tests/fixtures/check_segment_tokens.py`):
//! 200/200 identical with leading separators, 0/200 with trailing ones. This is why
//! the `--share-prefix` segment is instruction + few-shot block WITHOUT the
//! following `"\n\n"`, which opens each question segment instead.

use chorus_mask::Role;

use crate::context::PromptContext;
use crate::error::PromptError;

/// The text every standard prompt ends with; `--fuse-first shared-suffix` moves
/// it out of the paraphrase segments into one trailing shared segment.
pub const ANSWER_SUFFIX: &str = "\nA:";

/// What separates the instruction, the few-shot examples and the question.
pub const BLOCK_SEPARATOR: &str = "\n\n";

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

/// How the first answer token is fused in the flex layouts (docs/DESIGN.md rule 6).
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
    /// The shared prefix of every prompt: the instruction, then per few-shot
    /// example up to `questions_per_example` question segments (`"\n\nQ: {q}"`,
    /// then `"\nQ: {q}"`) and one `"\nA: {a}"` answer segment.
    fn push_prefix(&self, layout: &mut PromptLayout, questions_per_example: usize) {
        layout.push(Role::Instruction, self.instruction.clone());
        for (example, shot) in self.examples.iter().enumerate() {
            let questions = shot.questions.iter().take(questions_per_example.max(1));
            for (variant, question) in questions.enumerate() {
                let separator = if variant == 0 { BLOCK_SEPARATOR } else { "\n" };
                layout.push(
                    Role::FewShotQuestion { example, variant },
                    format!("{separator}Q: {question}"),
                );
            }
            layout.push(
                Role::FewShotAnswer { example },
                format!("\nA: {}", shot.answer),
            );
        }
    }

    /// The text every standard prompt starts with: `"{instruction}\n\n{few_shot_block}"`
    /// (just the instruction when there is no example). The `"\n\n"` that follows
    /// it opens the question segment (see the module documentation).
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
            format!("{BLOCK_SEPARATOR}Q: {question}{ANSWER_SUFFIX}"),
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
    /// - `share_prefix`: one `Shared` segment with [`PromptContext::prefix_text`]
    ///   (instruction + few-shot block), then one `"\n\nQ: {p}\nA:"` segment per
    ///   paraphrase (the `"\n\n"` opens the question segment, see the module
    ///   documentation for why it is not at the end of the prefix);
    /// - `FuseFirst::SharedSuffix`: as above but each paraphrase segment stops
    ///   before [`ANSWER_SUFFIX`] (`"\nA:"`), which follows once as a trailing
    ///   `Shared` segment.
    ///
    /// Shared prefix + paraphrase segment + shared suffix is always exactly that
    /// paraphrase's standalone prompt.
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
                format!("{own_prefix}{BLOCK_SEPARATOR}Q: {}{suffix}", text.as_ref()),
            );
        }
        if fused {
            layout.push(Role::Shared, ANSWER_SUFFIX);
        }
        Ok(layout)
    }

    /// MyriadLAMA's structured layout: the instruction; each few-shot example with
    /// up to `questions_per_example` question phrasings (`"\n\nQ: ..."`, then
    /// `"\nQ: ..."` segments) and one `"\nA: ..."` answer segment; the question
    /// paraphrases (`"\n\nQ: {p0}"`, then `"\nQ: {p}"`); and a final `Shared`
    /// `"\nA:"` segment where the answer is read.
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
            let separator = if paraphrase == 0 {
                BLOCK_SEPARATOR
            } else {
                "\n"
            };
            layout.push(
                Role::Question { paraphrase },
                format!("{separator}Q: {}", text.as_ref()),
            );
        }
        layout.push(Role::Shared, ANSWER_SUFFIX);
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
            vec![ctx.prefix_text().as_str(), "\n\nQ: x", "\n\nQ: y", "\nA:"]
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
        fn structured_layouts_render_the_pipeline_format(
            instruction in text(),
            shots in proptest::collection::vec((proptest::collection::vec(text(), 1..5), text()), 0..4),
            paraphrases in proptest::collection::vec(text(), 1..5),
            per_example in 1usize..5,
        ) {
            let examples: Vec<FewShotExample> = shots
                .into_iter()
                .map(|(questions, answer)| FewShotExample { questions, answer })
                .collect();
            let ctx = PromptContext::new(instruction, examples).unwrap();
            let layout = ctx.structured(&paraphrases, per_example).unwrap();
            let lines = |texts: &[String]| texts.iter().map(|t| format!("Q: {t}")).collect::<Vec<_>>().join("\n");
            let mut expected = ctx.instruction.clone();
            for shot in &ctx.examples {
                let shown = &shot.questions[..shot.questions.len().min(per_example)];
                expected += &format!("\n\n{}\nA: {}", lines(shown), shot.answer);
            }
            expected += &format!("\n\n{}\nA:", lines(&paraphrases));
            prop_assert_eq!(layout.render(), expected);
            let roles: Vec<Role> = layout.segments().iter().map(|s| s.role).collect();
            prop_assert_eq!(roles.first(), Some(&Role::Instruction));
            prop_assert_eq!(roles.last(), Some(&Role::Shared));
            let questions: Vec<Role> = roles.iter().copied().filter(|r| matches!(r, Role::Question { .. })).collect();
            let expected_questions: Vec<Role> = (0..paraphrases.len()).map(|paraphrase| Role::Question { paraphrase }).collect();
            prop_assert_eq!(questions, expected_questions);
            for (example, shot) in ctx.examples.iter().enumerate() {
                let variants = roles.iter().filter(|r| matches!(r, Role::FewShotQuestion { example: e, .. } if *e == example)).count();
                prop_assert_eq!(variants, shot.questions.len().min(per_example));
            }
        }

        /// The tokenisation law behind the separator placement: in every layout
        /// whose segments are parts of one prompt, each segment after the first
        /// opens with its separator (a newline), so no segment ends in one.
        #[test]
        fn separators_open_segments(
            instruction in "[a-zA-Z?. ]{0,12}[a-zA-Z?.]",
            shots in proptest::collection::vec(("[a-z ]{0,8}[a-z?]", "[a-zA-Z]{1,8}"), 0..4),
            paraphrases in proptest::collection::vec("[a-z ]{0,8}[a-z?]", 1..5),
            fused in any::<bool>(),
        ) {
            let examples = shots.into_iter().map(|(q, a)| FewShotExample::new(q, a)).collect();
            let ctx = PromptContext::new(instruction, examples).unwrap();
            let fuse_first = if fused { FuseFirst::SharedSuffix } else { FuseFirst::None };
            let layouts = [
                ctx.standard(&paraphrases[0], 0),
                ctx.structured(&paraphrases, DEFAULT_QUESTIONS_PER_EXAMPLE).unwrap(),
                ctx.flex(&paraphrases, FlexOptions { share_prefix: true, fuse_first }).unwrap(),
            ];
            for layout in &layouts {
                for segment in &layout.segments()[1..] {
                    prop_assert!(segment.text.starts_with('\n'), "{:?}", segment);
                }
                for segment in layout.segments() {
                    prop_assert!(!segment.text.ends_with(char::is_whitespace), "{:?}", segment);
                }
            }
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
