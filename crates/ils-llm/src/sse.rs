//! An incremental decoder of server-sent events (the WHATWG `text/event-stream` format), as
//! both providers stream: bytes arrive in arbitrary pieces (a line, a UTF-8 character or a CRLF
//! may be split across two), comment lines (`: keep-alive`) are ignored, an event's `data` lines
//! are joined with `\n`, and an event ends at a blank line.

/// One event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `None` for the default `message`.
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Decoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous byte was a CR (so a following LF belongs to the same line end).
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

/// Lines longer than this are refused (a broken or hostile stream).
const MAX_LINE: usize = 4 * 1024 * 1024;

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, String> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events)?;
                }
                b'\n' => self.end_line(&mut events)?,
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err("a stream line is longer than 4 MiB".into());
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    /// The event left when the stream ends without a final blank line, if any.
    pub fn finish(&mut self) -> Result<Option<Event>, String> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events)?;
        }
        self.dispatch(&mut events);
        Ok(events.pop())
    }

    fn end_line(&mut self, events: &mut Vec<Event>) -> Result<(), String> {
        let line = std::mem::take(&mut self.line);
        let line = String::from_utf8(line).map_err(|_| "a stream line is not UTF-8".to_owned())?;
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(()); // a comment: keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            _ => {} // id, retry and unknown fields: nothing to do here
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<Event>) {
        let event = self.event.take();
        if let Some(mut data) = self.data.take() {
            data.pop(); // the last data line's own newline
            events.push(Event { event, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pieces: &[&[u8]]) -> Vec<Event> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(d.feed(p).expect("valid"));
        }
        out.extend(d.finish().expect("valid"));
        out
    }

    #[test]
    fn events_survive_any_split() {
        let stream =
            "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: é\ndata: two\n\n";
        let expected = vec![
            Event {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            Event {
                event: None,
                data: "é\ntwo".into(),
            },
        ];
        let bytes = stream.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(
                all(&[&bytes[..cut], &bytes[cut..]]),
                expected,
                "cut at {cut}"
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&singles), expected);
    }

    #[test]
    fn a_last_event_without_a_blank_line_is_kept() {
        assert_eq!(
            all(&[b"data: [DONE]"]),
            vec![Event {
                event: None,
                data: "[DONE]".into()
            }]
        );
    }

    #[test]
    fn broken_text_is_refused() {
        let mut d = Decoder::new();
        assert!(d.feed(b"data: \xff\xfe\n").is_err());
    }
}
