//! Where the outgoing prompt and the incoming answer can be changed on their way: the place
//! the redaction of patient identifiers plugs in (it replaces identifiers in the prompt with
//! placeholders and restores them in the answer, even when a placeholder arrives split across
//! two pieces of the stream, which is why [`Transform::incoming`] may hold text back until
//! [`Transform::finish`]).

use crate::Message;

pub trait Transform: Send {
    /// The messages as they leave for the provider.
    fn outgoing(&mut self, messages: Vec<Message>) -> Vec<Message>;
    /// A piece of the answer as it arrives; returns what may be shown now.
    fn incoming(&mut self, delta: &str) -> String;
    /// What was held back, at the end of the answer.
    fn finish(&mut self) -> String;
}

/// Changes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Passthrough;

impl Transform for Passthrough {
    fn outgoing(&mut self, messages: Vec<Message>) -> Vec<Message> {
        messages
    }

    fn incoming(&mut self, delta: &str) -> String {
        delta.to_owned()
    }

    fn finish(&mut self) -> String {
        String::new()
    }
}
